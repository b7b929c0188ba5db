/**
 * Query parameters with case-insensitive names (SignalR clients differ in casing); values URL-decoded.
 * The first occurrence of a name wins. A value that is not valid percent-encoding is kept as sent, so
 * a malformed `id` still reaches the lookup and gets the spec's 404 rather than a 400.
 */
export function parseQuery(query: string): Map<string, string> {
  const out = new Map<string, string>();
  if (query === "") return out;
  for (const part of query.split("&")) {
    if (part === "") continue;
    const eq = part.indexOf("=");
    const name = decode(eq === -1 ? part : part.slice(0, eq)).toLowerCase();
    if (!out.has(name)) out.set(name, eq === -1 ? "" : decode(part.slice(eq + 1)));
  }
  return out;
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, " "));
  } catch {
    return s; // malformed escapes: keep as sent (see above)
  }
}

/** Hub paths match case-insensitively and with a trailing slash (docs/protocol.md §1). */
export function normalisePath(url: string): string {
  const lower = url.toLowerCase();
  return lower.length > 1 && lower.endsWith("/") ? lower.slice(0, -1) : lower;
}
