import { TokenMalformedError, TokenMissingError } from '../errors/jwks.errors.js';
import { JWKS_DEFAULTS } from '../jwks-auth.constants.js';
import type { HttpRequestLike } from './authorization.header.js';
import type { TokenReader } from './token.source.js';

function isBlank(code: number): boolean {
  return code === 0x20 || code === 0x09;
}

/**
 * The value of cookie `name` in a Cookie header (RFC 6265 §4.2.1: `a=1; b=2`), or undefined.
 * One pass, no regular expression, no split: each pair is compared in place, so the cost is
 * linear in the header whatever it holds. A cookie sent twice under the name is refused: which one
 * wins differs between parsers, and a sibling subdomain can plant the second (cookie tossing).
 */
export function cookieValue(header: string, name: string): string | undefined {
  if (header.length > JWKS_DEFAULTS.maxTokenSourceScanBytes) throw new TokenMalformedError('Cookie header too long to scan');
  let found: string | undefined;
  let i = 0;
  const n = header.length;
  while (i < n) {
    while (i < n && isBlank(header.charCodeAt(i))) i++;
    let end = header.indexOf(';', i);
    if (end === -1) end = n;
    // Cookie names hold no `;` (the option is checked), so this comparison never crosses a pair.
    if (header.startsWith(name, i)) {
      let j = i + name.length;
      while (j < end && isBlank(header.charCodeAt(j))) j++;
      if (j < end && header.charCodeAt(j) === 0x3d) {
        if (found !== undefined) throw new TokenMalformedError('the token cookie was sent more than once');
        found = header.slice(j + 1, end).trim();
        // RFC 6265 allows the value in double quotes.
        if (found.length >= 2 && found.charCodeAt(0) === 0x22 && found.charCodeAt(found.length - 1) === 0x22) found = found.slice(1, -1);
      }
    }
    i = end + 1;
  }
  return found;
}

/**
 * Reads the token from cookie `name`. The Cookie header is parsed here, so cookie-parser is not
 * needed (and a repeated cookie is seen); `request.cookies` (cookie-parser, @fastify/cookie) is
 * read only when the request has no Cookie header string.
 */
export function cookieTokenReader(name: string): TokenReader {
  return (request) => {
    const req = request as HttpRequestLike | null | undefined;
    const header = req?.headers?.cookie;
    let value: unknown;
    if (typeof header === 'string') value = cookieValue(header, name);
    else if (header !== undefined) throw new TokenMalformedError('Cookie header is not a single string');
    else {
      const cookies = req?.cookies;
      if (typeof cookies === 'object' && cookies !== null && Object.prototype.hasOwnProperty.call(cookies, name)) {
        value = (cookies as Record<string, unknown>)[name];
      }
    }
    if (value === undefined || value === '') throw new TokenMissingError('no token cookie');
    if (typeof value !== 'string') throw new TokenMalformedError('the token cookie is not a string');
    return value;
  };
}
