/**
 * NATS subject matching for the in-process bus: tokens are dot-separated, `*` matches exactly one
 * token and `>` (only as the last token) one or more trailing tokens.
 */

/** True when `subject` (no wildcards) matches `pattern` token by token. */
export function subjectMatches(pattern: string, subject: string): boolean {
  return tokensMatch(pattern.split("."), subject.split("."));
}

/** Same as `subjectMatches`, with both sides already split into tokens. */
export function tokensMatch(pattern: readonly string[], subject: readonly string[]): boolean {
  const n = pattern.length;
  for (let i = 0; i < n; i++) {
    const p = pattern[i];
    if (p === ">") return i === n - 1 && subject.length > i;
    if (i >= subject.length) return false;
    if (p !== "*" && p !== subject[i]) return false;
  }
  return subject.length === n;
}

/** True when the pattern holds `*` or `>` tokens. */
export function hasWildcard(pattern: string): boolean {
  return pattern.split(".").some((t) => t === "*" || t === ">");
}

const BAD_CHARS = /[\s\x00-\x1f\x7f]/;

/** A subscription pattern: non-empty tokens without whitespace, `>` only last. Throws RangeError otherwise. */
export function checkPattern(pattern: string): void {
  const tokens = pattern.split(".");
  if (pattern === "" || BAD_CHARS.test(pattern) || tokens.some((t) => t === "")) {
    throw new RangeError(`invalid subject pattern ${JSON.stringify(pattern)}`);
  }
  const gt = tokens.indexOf(">");
  if (gt !== -1 && gt !== tokens.length - 1) throw new RangeError(`'>' must be the last token in ${JSON.stringify(pattern)}`);
}

/** A publish subject: a pattern without wildcards. Throws RangeError otherwise. */
export function checkSubject(subject: string): void {
  checkPattern(subject);
  if (hasWildcard(subject)) throw new RangeError(`cannot publish to wildcard subject ${JSON.stringify(subject)}`);
}
