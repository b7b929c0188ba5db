/**
 * Generic schema machinery: one object of typed fields gives the TypeScript type, the defaults,
 * the environment variable names, the parsing and validation, and the docs table.
 *
 * Nothing here knows about Tidings; `schema.ts` is the one schema built with it.
 */

/** What a field holds; used by the docs table and by tests. */
export type FieldKind = "string" | "integer" | "seconds" | "boolean" | "list" | "enum" | "url";

/** Outcome of parsing one raw value. `expected` is a phrase such as "an integer, from 1 to 65535". */
export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly expected: string };

/**
 * One setting. `T` is the value type the application sees; it includes `undefined` exactly when the
 * setting has no default (it is then optional, and `undefined` means "not set").
 */
export interface Field<T> {
  readonly kind: FieldKind;
  /** Value used when the variable is absent, empty or only whitespace. */
  readonly default: T;
  /** One sentence for operators; shown in the docs table. */
  readonly doc: string;
  /** A secret value is never printed: error messages show only its length. */
  readonly secret: boolean;
  /** What a valid value looks like, as a phrase ("an integer, from 1 to 65535"). */
  readonly expected: string;
  /** Parses a trimmed, non-empty raw value. Never throws. */
  parse(raw: string): Parsed<T>;
  /** Writes a value the way it would be written in the environment (for the docs table). */
  format(value: T): string;
}

/** The value type of a field. */
export type FieldValue<F> = F extends { readonly default: infer T } ? T : never;

/** A record of fields, keyed by camelCase setting name. */
export type Fields = Record<string, Field<unknown>>;

/** The configuration object a schema of fields produces. */
export type ConfigOf<F extends Fields> = { readonly [K in keyof F]: FieldValue<F[K]> };

/**
 * A rule across several fields. `check` returns a problem sentence, or `undefined` when the rule
 * holds. The rule is skipped when any of `keys` failed to parse, so one bad value never causes a
 * second, misleading problem. `check` must read only the fields listed in `keys`.
 */
export interface Rule<C> {
  readonly keys: readonly (keyof C & string)[];
  check(config: C, envName: (key: keyof C & string) => string): string | undefined;
}

/** Non-fatal advice about a valid configuration: returns a sentence, or `undefined` when all is well. */
export type Advice<C> = (config: C, envName: (key: keyof C & string) => string) => string | undefined;

export interface ConfigSchema<F extends Fields> {
  /** Prefix of every environment variable, for example `TIDINGS_`. */
  readonly prefix: string;
  readonly fields: F;
  /** Keys in declaration order: the order of problems and of the docs table. */
  readonly keys: readonly (keyof F & string)[];
  readonly rules: readonly Rule<ConfigOf<F>>[];
  readonly advice: readonly Advice<ConfigOf<F>>[];
  /** Variables under the prefix that other programs read (the `tidings` CLI), never reported as unknown. */
  readonly foreign: readonly string[];
  /** Environment variable name of a key: prefix + SCREAMING_SNAKE_CASE of the key. */
  envName(key: keyof F & string): string;
}

/** The configuration type of a schema. */
export type InferConfig<S> = S extends ConfigSchema<infer F> ? ConfigOf<F> : never;

/** `SCREAMING_SNAKE_CASE` of a camelCase key: `authJwtSecret` → `AUTH_JWT_SECRET`. */
export function screamingSnake(key: string): string {
  return key
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .replace(/([A-Z])([A-Z][a-z])/g, "$1_$2")
    .toUpperCase();
}

/**
 * Declares a schema. Throws (a programming error, not a configuration error) when a key is not
 * camelCase or two keys map to the same environment variable.
 */
export function defineConfig<F extends Fields>(
  fields: F,
  options: {
    prefix: string;
    rules?: readonly Rule<ConfigOf<F>>[];
    advice?: readonly Advice<ConfigOf<F>>[];
    foreign?: readonly string[];
  },
): ConfigSchema<F> {
  const keys = Object.keys(fields) as (keyof F & string)[];
  const names = new Map<string, string>();
  for (const key of keys) {
    if (!/^[a-z][a-zA-Z0-9]*$/.test(key)) {
      throw new TypeError(`config key "${key}" must be camelCase (letters and digits, starting lower-case)`);
    }
    const name = options.prefix + screamingSnake(key);
    const other = names.get(name);
    if (other !== undefined) throw new TypeError(`config keys "${other}" and "${key}" both map to ${name}`);
    names.set(name, key);
  }
  return Object.freeze({
    prefix: options.prefix,
    fields,
    keys: Object.freeze(keys),
    rules: Object.freeze([...(options.rules ?? [])]),
    advice: Object.freeze([...(options.advice ?? [])]),
    foreign: Object.freeze([...(options.foreign ?? [])]),
    envName: (key: keyof F & string) => options.prefix + screamingSnake(key),
  });
}

// ---------------------------------------------------------------------------------------------
// Field builders

interface Common<D> {
  /** Value when unset. `undefined` makes the setting optional (its type then includes `undefined`). */
  default: D;
  doc: string;
  secret?: boolean;
}

/** Inclusive `min`/`max`, exclusive `above`/`below`. */
export interface NumberBounds {
  min?: number;
  max?: number;
  above?: number;
  below?: number;
}

/** `T`, plus `undefined` when the default is `undefined`. */
type Widen<D, T> = undefined extends D ? T | undefined : T;

function field<T>(
  kind: FieldKind,
  o: { default: T; doc: string; secret?: boolean },
  expected: string,
  parse: (raw: string) => Parsed<T>,
  format: (value: T) => string,
): Field<T> {
  return Object.freeze({ kind, default: o.default, doc: o.doc, secret: o.secret ?? false, expected, parse, format });
}

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const bad = <T>(expected: string): Parsed<T> => ({ ok: false, expected });

function describeBounds(b: NumberBounds): string {
  const low = b.above !== undefined ? `greater than ${b.above}` : b.min !== undefined ? `at least ${b.min}` : undefined;
  const high = b.below !== undefined ? `below ${b.below}` : b.max !== undefined ? `at most ${b.max}` : undefined;
  if (b.above === undefined && b.below === undefined && b.min !== undefined && b.max !== undefined) {
    return `from ${b.min} to ${b.max}`;
  }
  return [low, high].filter((s) => s !== undefined).join(" and ");
}

function withBounds(base: string, b: NumberBounds): string {
  const range = describeBounds(b);
  return range === "" ? base : `${base}, ${range}`;
}

function inBounds(n: number, b: NumberBounds): boolean {
  return (
    (b.min === undefined || n >= b.min) &&
    (b.max === undefined || n <= b.max) &&
    (b.above === undefined || n > b.above) &&
    (b.below === undefined || n < b.below)
  );
}

const countChars = (s: string): number => [...s].length;

/**
 * A string. `min`/`max` bound its length in characters; `pattern` restricts it, described to the
 * operator by `patternText` ("letters, digits, - and _").
 */
export function str<D extends string | undefined>(
  o: Common<D> & { min?: number; max?: number; pattern?: RegExp; patternText?: string },
): Field<Widen<D, string>> {
  const parts: string[] = [];
  if (o.pattern !== undefined) parts.push(o.patternText ?? `text matching ${String(o.pattern)}`);
  if (o.min !== undefined && o.max !== undefined) parts.push(`${o.min} to ${o.max} characters`);
  else if (o.min !== undefined) parts.push(`at least ${o.min} characters`);
  else if (o.max !== undefined) parts.push(`at most ${o.max} characters`);
  const expected = parts.length === 0 ? "a string" : parts.join(", ");
  return field<Widen<D, string>>(
    "string",
    o as Common<Widen<D, string>>,
    expected,
    (raw) => {
      const n = countChars(raw);
      if ((o.min !== undefined && n < o.min) || (o.max !== undefined && n > o.max)) return bad(expected);
      if (o.pattern !== undefined && !o.pattern.test(raw)) return bad(expected);
      return ok(raw);
    },
    (v) => v ?? "",
  );
}

/** A whole number written in decimal digits (optionally with a leading `-`); no decimals, no junk. */
export function int<D extends number | undefined>(o: Common<D> & NumberBounds): Field<Widen<D, number>> {
  const expected = withBounds("an integer", o);
  return field<Widen<D, number>>(
    "integer",
    o as Common<Widen<D, number>>,
    expected,
    (raw) => {
      if (!/^-?\d+$/.test(raw)) return bad(expected);
      const n = Number(raw);
      if (!Number.isSafeInteger(n) || !inBounds(n, o)) return bad(expected);
      return ok(n);
    },
    (v) => (v === undefined ? "" : String(v)),
  );
}

/**
 * A duration in seconds: a decimal number such as `15`, `0.5` or `.25`, never negative (the lower
 * bound is `min: 0` unless `min` or `above` says otherwise). No units, no exponent.
 */
export function seconds<D extends number | undefined>(o: Common<D> & NumberBounds): Field<Widen<D, number>> {
  const bounds: NumberBounds = o.min === undefined && o.above === undefined ? { ...o, min: 0 } : o;
  const expected = withBounds("a number of seconds (decimals allowed)", bounds);
  return field<Widen<D, number>>(
    "seconds",
    o as Common<Widen<D, number>>,
    expected,
    (raw) => {
      if (!/^(?:\d+(?:\.\d*)?|\.\d+)$/.test(raw)) return bad(expected);
      const n = Number(raw);
      if (!Number.isFinite(n) || !inBounds(n, bounds)) return bad(expected);
      return ok(n);
    },
    (v) => (v === undefined ? "" : String(v)),
  );
}

const TRUE = new Set(["true", "1", "yes"]);
const FALSE = new Set(["false", "0", "no"]);

/** `true`/`false`, `1`/`0`, `yes`/`no`, in any case. */
export function bool(o: Common<boolean>): Field<boolean> {
  const expected = "true, false, 1, 0, yes or no";
  return field<boolean>(
    "boolean",
    o,
    expected,
    (raw) => {
      const v = raw.toLowerCase();
      return TRUE.has(v) ? ok(true) : FALSE.has(v) ? ok(false) : bad(expected);
    },
    String,
  );
}

interface ListOptions {
  /** Fewest items (after dropping empties). */
  min?: number;
  /** Most items. */
  max?: number;
  /** Checks one item; returns what was expected of it, or `undefined` when the item is fine. */
  check?: (item: string) => string | undefined;
  /** How an item should look, for messages and docs ("origins such as https://app.example.com"). */
  itemText?: string;
}

function countText(o: { min?: number; max?: number }): string | undefined {
  if (o.min !== undefined && o.max !== undefined) return `${o.min} to ${o.max} items`;
  if (o.min !== undefined) return `at least ${o.min} item${o.min === 1 ? "" : "s"}`;
  if (o.max !== undefined) return `at most ${o.max} items`;
  return undefined;
}

function splitList(raw: string): string[] {
  return raw
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

/**
 * A comma-separated list: items trimmed, empty items dropped. With `values`, every item must be one
 * of them (matched case-insensitively, stored in the spelling of `values`, duplicates dropped).
 * `min`/`max` bound the number of items. The value is a frozen array.
 */
export function list<const V extends readonly [string, ...string[]]>(
  o: Common<NoInfer<readonly V[number][]>> & { values: V; min?: number; max?: number },
): Field<readonly V[number][]>;
export function list(o: Common<readonly string[]> & ListOptions): Field<readonly string[]>;
export function list(o: Common<readonly string[]> & ListOptions & { values?: readonly string[] }): Field<readonly string[]> {
  const values = o.values;
  const count = countText(o);
  const what = values !== undefined ? `of ${values.join(", ")}` : o.itemText !== undefined ? `of ${o.itemText}` : "";
  const expected = ["a comma-separated list", what, count === undefined ? "" : `with ${count}`].filter((s) => s !== "").join(" ");
  return field<readonly string[]>(
    "list",
    { ...o, default: Object.freeze([...o.default]) },
    expected,
    (raw) => {
      let items = splitList(raw);
      if (values !== undefined) {
        const out: string[] = [];
        for (const item of items) {
          const known = values.find((v) => v.toLowerCase() === item.toLowerCase());
          if (known === undefined) return bad(`${expected} (${JSON.stringify(item)} is not one of them)`);
          if (!out.includes(known)) out.push(known);
        }
        items = out;
      } else if (o.check !== undefined) {
        for (const item of items) {
          const problem = o.check(item);
          if (problem !== undefined) {
            // A secret list must not leak an item; a public one names the bad item.
            return bad(o.secret === true ? `${expected} (${problem})` : `${expected} (${JSON.stringify(item)}: ${problem})`);
          }
        }
      }
      if ((o.min !== undefined && items.length < o.min) || (o.max !== undefined && items.length > o.max)) {
        return bad(expected);
      }
      return ok(Object.freeze(items));
    },
    (v) => v.join(","),
  );
}

/**
 * One of a fixed set of words, matched case-insensitively and stored in the spelling of `values`.
 */
export function oneOf<const V extends readonly [string, ...string[]], D extends V[number] | undefined>(
  o: Common<D> & { values: V },
): Field<Widen<D, V[number]>> {
  const expected = `one of ${o.values.join(", ")}`;
  return field<Widen<D, V[number]>>(
    "enum",
    o as Common<Widen<D, V[number]>>,
    expected,
    (raw) => {
      const known = o.values.find((v) => v.toLowerCase() === raw.toLowerCase());
      return known === undefined ? bad(expected) : ok(known);
    },
    (v) => v ?? "",
  );
}

/**
 * An absolute URL, kept as written. `protocols` (without the colon, for example `["http", "https"]`)
 * restricts its scheme.
 */
export function url<D extends string | undefined>(o: Common<D> & { protocols?: readonly [string, ...string[]] }): Field<Widen<D, string>> {
  const protocols = o.protocols;
  const expected =
    protocols === undefined ? "an absolute URL" : `an absolute URL starting with ${protocols.map((p) => `${p}://`).join(" or ")}`;
  return field<Widen<D, string>>(
    "url",
    o as Common<Widen<D, string>>,
    expected,
    (raw) => {
      // "scheme://" is required, so "localhost:4222" or "http:example.com" are refused, not guessed at.
      if (!/^[a-z][a-z0-9+.-]*:\/\/\S*$/i.test(raw) || !URL.canParse(raw)) return bad(expected);
      const scheme = new URL(raw).protocol.slice(0, -1).toLowerCase();
      if (protocols !== undefined && !protocols.includes(scheme)) return bad(expected);
      return ok(raw);
    },
    (v) => v ?? "",
  );
}
