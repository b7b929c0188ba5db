/**
 * ASCII-only lower-casing, for names ASP.NET compares with OrdinalIgnoreCase: unlike
 * String#toLowerCase it never maps non-ASCII letters (the Kelvin sign U+212A) onto ASCII ones.
 */
export function asciiLowerCase(text: string): string {
  return text.replace(/[A-Z]/g, (letter) => String.fromCharCode(letter.charCodeAt(0) + 32));
}
