/**
 * What a `kid` may look like, in tokens and in key sets: short, and only characters real IdPs
 * use (base64/base64url, hex, UUIDs, dotted names, e-mail-like ids). Anything else (CR/LF,
 * quotes, spaces, control characters, kilobytes of text) is refused before any lookup.
 */
export const SAFE_KID = /^[A-Za-z0-9._~+/=:@#-]{1,128}$/;
