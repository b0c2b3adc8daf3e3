/**
 * What a `kid` may look like, in tokens and in key sets: short, and only characters real IdPs
 * use (base64/base64url, hex, UUIDs, dotted names, e-mail-like ids). Anything else (CR/LF,
 * quotes, spaces, control characters, kilobytes of text) is refused before any lookup.
 */
export const SAFE_KID = /^[A-Za-z0-9._~+/=:@#-]{1,128}$/;

/** A kid as it may appear in a log line: never raw. Truncated, with anything unusual escaped. */
export function kidForLog(kid: unknown): string {
  if (typeof kid !== 'string') return `<${typeof kid}>`;
  const head = kid.slice(0, 12).replace(/[^A-Za-z0-9._-]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return kid.length > 12 ? `${head}…(${kid.length})` : head;
}
