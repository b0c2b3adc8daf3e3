import { TokenMalformedError, TokenMissingError } from '../errors/jwks.errors.js';
import { credentialOf, type HttpRequestLike } from './authorization.header.js';
import type { TokenReader } from './token.source.js';

/**
 * Whether the request carried header `name` (lower-case) more than once. Node joins most repeated
 * headers into one value with `, ` (so a second token would ride along inside the first); only
 * `rawHeaders` (or `headersDistinct`) shows the repetition.
 */
function isRepeated(request: HttpRequestLike, name: string): boolean {
  const raw = request.rawHeaders ?? request.raw?.rawHeaders;
  if (Array.isArray(raw)) {
    let seen = false;
    for (let i = 0; i < raw.length; i += 2) {
      const n: unknown = raw[i];
      if (typeof n === 'string' && n.length === name.length && n.toLowerCase() === name) {
        if (seen) return true;
        seen = true;
      }
    }
    return false;
  }
  const distinct = request.headersDistinct?.[name];
  return Array.isArray(distinct) && distinct.length > 1;
}

/**
 * Reads the token from header `name` (lower-case): `Bearer <token>` when `scheme` is `'Bearer'`,
 * the whole value otherwise. A header sent twice is refused, as the Authorization header is.
 */
export function headerTokenReader(name: string, scheme: 'Bearer' | null): TokenReader {
  const shown = name;
  return (request) => {
    const req = request as HttpRequestLike | null | undefined;
    const value = req?.headers?.[name];
    if (value === undefined) throw new TokenMissingError(`no ${shown} header`);
    if (typeof value !== 'string') throw new TokenMalformedError(`${shown} header is not a single string`);
    if (isRepeated(req!, name)) throw new TokenMalformedError(`more than one ${shown} header`);
    return credentialOf(value, shown, scheme);
  };
}
