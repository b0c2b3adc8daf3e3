import { TokenMalformedError, TokenMissingError } from '../errors/jwks.errors.js';
import { JWKS_DEFAULTS } from '../jwks-auth.constants.js';
import type { HttpRequestLike } from './authorization.header.js';
import type { TokenReader } from './token.source.js';

/**
 * The value of parameter `name` in a URL's query string, or undefined. One pass over the raw
 * query (not a parser's object, where `?t[a]=1` becomes an object and `?t=1&t=2` an array), no
 * regular expression. A parameter given twice is refused: which one wins differs between parsers.
 */
export function queryValue(url: string, name: string): string | undefined {
  const start = url.indexOf('?');
  if (start === -1) return undefined;
  let hash = url.indexOf('#', start);
  if (hash === -1) hash = url.length;
  if (hash - start > JWKS_DEFAULTS.maxTokenSourceScanBytes) throw new TokenMalformedError('query string too long to scan');
  let found: string | undefined;
  let i = start + 1;
  while (i < hash) {
    let end = url.indexOf('&', i);
    if (end === -1 || end > hash) end = hash;
    // Parameter names hold no `&` or `=` (the option is checked), so this never crosses a pair.
    if (url.startsWith(name, i) && i + name.length < end && url.charCodeAt(i + name.length) === 0x3d) {
      if (found !== undefined) throw new TokenMalformedError('the token query parameter was sent more than once');
      found = url.slice(i + name.length + 1, end);
    }
    i = end + 1;
  }
  if (found === undefined || !found.includes('%')) return found;
  try {
    return decodeURIComponent(found);
  } catch {
    throw new TokenMalformedError('the token query parameter is not valid percent-encoding');
  }
}

/**
 * Reads the token from query parameter `name`, from the URL as received (Express's `originalUrl`,
 * else `url`; Fastify's `url`).
 */
export function queryTokenReader(name: string): TokenReader {
  return (request) => {
    const req = request as HttpRequestLike | null | undefined;
    const url = typeof req?.originalUrl === 'string' ? req.originalUrl : typeof req?.url === 'string' ? req.url : req?.raw?.url;
    const value = typeof url === 'string' ? queryValue(url, name) : undefined;
    if (value === undefined || value === '') throw new TokenMissingError('no token query parameter');
    return value;
  };
}
