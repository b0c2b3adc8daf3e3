import { TokenMalformedError, TokenMissingError } from '../errors/jwks.errors.js';

/** `Bearer <token>`, RFC 6750 §2.1; the scheme is case-insensitive (RFC 9110 §11.1). */
const BEARER = /^Bearer[ \t]+([^ \t]+)[ \t]*$/i;
/** The Bearer scheme with a missing or malformed token (as opposed to another scheme). */
const BEARER_SCHEME = /^Bearer(?:[ \t]|$)/i;

/**
 * What the guard reads from a request. Express passes Node's `IncomingMessage`; Fastify passes
 * its own request, which wraps the `IncomingMessage` as `raw`. Outside HTTP it can be anything.
 */
export interface HttpRequestLike {
  headers?: Record<string, string | string[] | undefined> | null;
  /** Node's header lines as received, `[name, value, name, value, ...]`: repeated headers kept. */
  rawHeaders?: unknown;
  /** Node ≥ 18.3: every header as an array of its values, repeated ones kept. */
  headersDistinct?: Record<string, string[] | undefined> | null;
  raw?: { rawHeaders?: unknown; url?: unknown } | null;
  /** Set by cookie-parser (Express) or @fastify/cookie; read only when no Cookie header is present. */
  cookies?: unknown;
  /** Express: the URL as received, before any mount point was stripped from `url`. */
  originalUrl?: unknown;
  /** The request target, query string included. */
  url?: unknown;
  user?: unknown;
}

function isAuthorizationName(name: unknown): boolean {
  if (typeof name !== 'string' || name.length !== 13) return false;
  if (name === 'authorization' || name === 'Authorization') return true;
  // Other casings are rare; check the first letter before allocating a lower-cased copy, so the
  // other 13-letter names (cache-control, if-none-match, ...) cost a comparison, not a string.
  return (name.charCodeAt(0) | 0x20) === 0x61 && name.toLowerCase() === 'authorization';
}

/**
 * Whether the request carried the Authorization header more than once. Node keeps only the first
 * in `headers`, so a second one (which a proxy may read instead: another user) is only visible in
 * `rawHeaders` (or `headersDistinct`). A request without either cannot tell: false.
 */
function hasRepeatedAuthorization(request: HttpRequestLike): boolean {
  const raw = request.rawHeaders ?? request.raw?.rawHeaders;
  if (Array.isArray(raw)) {
    let seen = false;
    for (let i = 0; i < raw.length; i += 2) {
      if (isAuthorizationName(raw[i])) {
        if (seen) return true;
        seen = true;
      }
    }
    return false;
  }
  const distinct = request.headersDistinct?.authorization;
  return Array.isArray(distinct) && distinct.length > 1;
}

/**
 * The bearer token of the Authorization header (RFC 6750 §2.1).
 * @throws TokenMissingError when no bearer token was presented: no header, an empty one, or
 *   another scheme such as Basic (RFC 6750 §3.1: no error code in the challenge)
 * @throws TokenMalformedError when the header is repeated, not a string, or `Bearer` without
 *   exactly one token
 */
export function extractBearerToken(request: unknown): string {
  const req = request as HttpRequestLike | null | undefined;
  const header = req?.headers?.authorization;
  if (header === undefined) throw new TokenMissingError('no Authorization header');
  if (typeof header !== 'string') throw new TokenMalformedError('Authorization header is not a single string');
  if (hasRepeatedAuthorization(req!)) throw new TokenMalformedError('more than one Authorization header');
  return bearerTokenOf(header, 'Authorization');
}

/**
 * The token of a `Bearer <token>` header value.
 * @throws TokenMissingError when the value carries another scheme or nothing
 * @throws TokenMalformedError when it is `Bearer` without exactly one token
 */
export function bearerTokenOf(value: string, headerName: string): string {
  const match = BEARER.exec(value);
  if (match !== null) return match[1];
  if (!BEARER_SCHEME.test(value)) throw new TokenMissingError(`the ${headerName} header carries no bearer token`);
  throw new TokenMalformedError(`${headerName} header is not a bearer token`);
}

/**
 * The token in one credential value, wherever a transport found it (a header, a `connectionParams`
 * entry, a message's metadata): `Bearer <token>` when `scheme` is `'Bearer'`, else the whole value.
 * @throws TokenMissingError when it carries another scheme, or nothing
 * @throws TokenMalformedError when it is `Bearer` without exactly one token
 */
export function credentialOf(value: string, shown: string, scheme: 'Bearer' | null): string {
  if (scheme === 'Bearer') return bearerTokenOf(value, shown);
  const token = value.trim();
  if (token === '') throw new TokenMissingError(`the ${shown} is empty`);
  return token;
}
