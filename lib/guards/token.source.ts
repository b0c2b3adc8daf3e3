import { TokenMalformedError, TokenMissingError } from '../errors/jwks.errors.js';
import { cookieTokenReader } from './cookie.token.js';
import { headerTokenReader } from './header.token.js';
import { queryTokenReader } from './query.token.js';

/**
 * A function that finds the token in a request: the token, or `null`/`undefined` when there is
 * none. Synchronous. passport-jwt's `ExtractJwt` extractors fit as they are.
 */
// The request is whatever the transport hands the guard (Express's, Fastify's, ...): an extractor
// written for one of them must be assignable here, so the parameter cannot be narrower than `any`.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type JwksTokenExtractor = (request: any) => string | null | undefined;

/**
 * Where the guard reads the token (the `token` option). Default: the bearer token of the
 * Authorization header.
 * - `{ from: 'header', name?, scheme? }`: header `name` (default `authorization`); `scheme:
 *   'Bearer'` reads `Bearer <token>` (the default for `authorization`), `null` the whole value (the
 *   default for any other header).
 * - `{ from: 'cookie', name }`: a cookie; cookie-parser is not needed.
 * - `{ from: 'query', name }`: a query parameter. Query strings end up in access logs, proxy logs,
 *   browser history and `Referer` headers: use it only where nothing else can carry the token.
 * - a function `(request) => string | null | undefined`, e.g. `ExtractJwt.fromUrlQueryParameter('t')`.
 */
export type JwksTokenSource =
  | { from: 'header'; name?: string; scheme?: 'Bearer' | null }
  | { from: 'cookie'; name: string }
  | { from: 'query'; name: string }
  | JwksTokenExtractor;

/** The `token` option after validation: names lower-cased where case does not count, defaults applied. */
export type ResolvedTokenSource =
  | { readonly from: 'header'; readonly name: string; readonly scheme: 'Bearer' | null }
  | { readonly from: 'cookie'; readonly name: string }
  | { readonly from: 'query'; readonly name: string }
  | { readonly from: 'function'; readonly extract: JwksTokenExtractor };

/**
 * The token of one request. Throws `TokenMissingError` when none was presented (the 401 then
 * challenges with a plain `Bearer`) and `TokenMalformedError` when what was presented cannot be a
 * token. Each transport has its own default (HTTP: the Authorization header's bearer token); a
 * configured `token` source replaces it.
 */
export type TokenReader = (request: unknown) => string;

/**
 * The reader of a configured source, or `transportDefault` when none is configured. Built once per
 * guard: nothing here runs per request but the returned function.
 * @param onExtractorError told when a custom extractor throws (the app's bug, to be logged)
 */
export function compileTokenSource(source: ResolvedTokenSource | null, transportDefault: TokenReader, onExtractorError: (err: unknown) => void): TokenReader {
  if (source === null) return transportDefault;
  switch (source.from) {
    case 'header':
      return headerTokenReader(source.name, source.scheme);
    case 'cookie':
      return cookieTokenReader(source.name);
    case 'query':
      return queryTokenReader(source.name);
    case 'function':
      return extractorReader(source.extract, onExtractorError);
  }
}

/** A custom extractor, held to the reader's contract: whatever it does, a coded refusal (a 401), never a 500. */
function extractorReader(extract: JwksTokenExtractor, onError: (err: unknown) => void): TokenReader {
  return (request) => callExtractor(extract, request, undefined, onError, 'the token extractor');
}

/**
 * Runs a user-supplied extractor (of any transport) and holds its answer to the reader's
 * contract: a string, else `TokenMissingError` (nothing found) or `TokenMalformedError` (it threw,
 * returned a promise or another type). `what` names it in the refusal's reason.
 */
export function callExtractor<A, B>(extract: (a: A, b: B) => unknown, a: A, b: B, onError: (err: unknown) => void, what: string): string {
  let value: unknown;
  try {
    value = extract(a, b);
  } catch (err) {
    onError(err);
    throw new TokenMalformedError(`${what} threw`);
  }
  if (value === null || value === undefined || value === '') throw new TokenMissingError(`${what} found no token`);
  if (typeof value !== 'string') throw new TokenMalformedError(`${what} returned ${value instanceof Promise ? 'a promise (it must be synchronous)' : `a ${typeof value}`}`);
  return value;
}
