/**
 * Reading a schema from the environment: every value parsed, every problem collected, then one
 * `ConfigError` listing all of them, so an operator fixes a deployment in one round.
 */
import type { ConfigOf, ConfigSchema, Field, Fields } from "./define-config.js";
import { configSchema } from "./schema.js";
import type { TidingsConfig } from "./schema.js";

/** The environment shape `loadConfig` reads; `process.env` fits. */
export type Env = Readonly<Record<string, string | undefined>>;

/**
 * The configuration is invalid. `problems` has one sentence per problem, each naming the
 * environment variable, the bad value (secrets only by length) and what is expected; `message`
 * lists all of them, one per line.
 */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  readonly problems: readonly string[];

  constructor(problems: readonly string[], options?: ErrorOptions) {
    const count = problems.length === 1 ? "1 problem" : `${problems.length} problems`;
    super([`invalid configuration (${count}):`, ...problems.map((p) => `  - ${p}`)].join("\n"), options);
    this.problems = Object.freeze([...problems]);
  }
}

/** Optimal string alignment distance: insertions, deletions, substitutions and adjacent swaps. */
export function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row: number[] = [];
    for (let j = 0; j <= b.length; j++) {
      if (i === 0 || j === 0) {
        row.push(i + j);
        continue;
      }
      const up = rows[i - 1] ?? [];
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min((up[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (up[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d = Math.min(d, (rows[i - 2]?.[j - 2] ?? 0) + 1);
      }
      row.push(d);
    }
    rows.push(row);
  }
  return rows[a.length]?.[b.length] ?? 0;
}

/** Longest non-secret value quoted in a message. */
const SHOWN = 120;

function show(field: Field<unknown>, raw: string): string {
  const n = [...raw].length;
  if (field.secret) return `<hidden, ${n} character${n === 1 ? "" : "s"}>`;
  return JSON.stringify(n > SHOWN ? `${[...raw].slice(0, SHOWN).join("")}…` : raw);
}

/** The closest known name within edit distance 3 (compared case-insensitively), if any. */
function closest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 4;
  for (const candidate of known) {
    const d = editDistance(name.toUpperCase(), candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/**
 * Parses `env` against `schema`. A variable that is absent, empty or only whitespace is unset and
 * takes its default; values are trimmed. Problems, in this order: bad values (schema order),
 * unknown variables under the schema's prefix (by name), broken cross-field rules (rule order).
 * Returns the frozen configuration, or throws `ConfigError` listing every problem.
 */
export function readConfig<F extends Fields>(schema: ConfigSchema<F>, env: Env): ConfigOf<F> {
  type K = keyof F & string;
  const problems: string[] = [];
  const values: Record<string, unknown> = {};
  const invalid = new Set<string>();
  const known = new Set<string>();

  for (const key of schema.keys) {
    const field = schema.fields[key];
    const name = schema.envName(key);
    known.add(name);
    if (field === undefined) continue;
    const raw = env[name]?.trim() ?? "";
    if (raw === "") {
      values[key] = field.default;
      continue;
    }
    const parsed = field.parse(raw);
    if (parsed.ok) {
      values[key] = parsed.value;
    } else {
      invalid.add(key);
      values[key] = field.default;
      problems.push(`${name}=${show(field, raw)}: expected ${parsed.expected}`);
    }
  }

  const knownNames = [...known];
  const unknown = Object.keys(env)
    .filter(
      (name) => name.startsWith(schema.prefix) && !known.has(name) && !schema.foreign.includes(name) && (env[name]?.trim() ?? "") !== "",
    )
    .sort();
  for (const name of unknown) {
    // The value is never shown: an unknown variable may be a misspelt secret.
    const suggestion = closest(name, knownNames);
    problems.push(
      suggestion === undefined
        ? `${name}: unknown setting (see the configuration table in README.md)`
        : `${name}: unknown setting; did you mean ${suggestion}?`,
    );
  }

  const config = Object.freeze(values) as ConfigOf<F>;
  const envName = (key: K): string => schema.envName(key);
  for (const rule of schema.rules) {
    if (rule.keys.some((key) => invalid.has(key))) continue;
    const problem = rule.check(config, envName);
    if (problem !== undefined) problems.push(problem);
  }

  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** The schema's advice for a valid configuration, in schema order; empty when there is nothing to say. */
export function adviseConfig<F extends Fields>(schema: ConfigSchema<F>, config: ConfigOf<F>): string[] {
  const envName = (key: keyof F & string): string => schema.envName(key);
  return schema.advice.map((advice) => advice(config, envName)).filter((s) => s !== undefined);
}

/**
 * A copy of `config` that is safe to log: every set secret is replaced by `"<hidden>"`, list
 * secrets by one `"<hidden>"` per item.
 */
export function redactWith<F extends Fields>(schema: ConfigSchema<F>, config: ConfigOf<F>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of schema.keys) {
    const value: unknown = config[key];
    if (schema.fields[key]?.secret !== true || value === undefined) out[key] = value;
    else out[key] = Array.isArray(value) ? value.map(() => "<hidden>") : "<hidden>";
  }
  return out;
}

/**
 * Reads the Tidings configuration from `env` (default `process.env`): defaults, then environment.
 * Throws `ConfigError` listing every problem: bad values, unknown `TIDINGS_*` variables and broken
 * cross-field rules. The result is frozen.
 */
export function loadConfig(env: Env = process.env): TidingsConfig {
  return readConfig(configSchema, env);
}

/**
 * Non-fatal advice about a valid configuration, one sentence each (log them as warnings at boot).
 * Empty when there is nothing to say.
 */
export function configWarnings(config: TidingsConfig): string[] {
  return adviseConfig(configSchema, config);
}

/** `config` with secrets replaced by `"<hidden>"`, for logging the effective configuration at boot. */
export function redactConfig(config: TidingsConfig): Record<string, unknown> {
  return redactWith(configSchema, config);
}
