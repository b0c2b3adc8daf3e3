import { TokenMalformedError, TokenMissingError } from '../errors/jwks.errors.js';
import { credentialOf } from '../guards/authorization.header.js';
import { callExtractor, type TokenReader } from '../guards/token.source.js';
import { MAX_TOKEN_VALUE_CHARS } from '../jwks-auth.constants.js';
import type { GraphqlWsContextLike } from './graphql-ws.context.js';

/**
 * Finds the token of a graphql-ws connection: the token, or `null`/`undefined` when there is none.
 * Synchronous. `connectionParams` is the client's `connection_init` payload (undefined when it sent
 * none, or something other than an object); `context` is graphql-ws's connection context
 * (`extra.request` is the HTTP upgrade request).
 */
export type JwksConnectionParamsExtractor = (connectionParams: Readonly<Record<string, unknown>> | undefined, context: GraphqlWsContextLike) => string | null | undefined;

/**
 * Where the guard reads the token of a GraphQL operation over graphql-ws (`subscriptions.token`).
 * Default: `connectionParams.Authorization` (or `authorization`) as `Bearer <token>`, which is what
 * Apollo Client's `GraphQLWsLink` and graphql-ws's `createClient` send given
 * `connectionParams: { Authorization: `Bearer ${token}` }`.
 * - `{ from: 'connectionParams', name?, scheme? }`: entry `name` (exact, as JSON keys are);
 *   `scheme: 'Bearer'` reads `Bearer <token>` (the default for `Authorization`), `null` the whole
 *   string (the default for any other name, e.g. Apollo's docs' `authToken`).
 * - `{ from: 'upgradeRequest' }`: the HTTP upgrade request, read the way the module's `token`
 *   option says (a cookie a browser sends along, a header a server-side client set).
 * - a function `(connectionParams, context) => string | null | undefined`.
 */
export type JwksSubscriptionTokenSource = { from: 'connectionParams'; name?: string; scheme?: 'Bearer' | null } | { from: 'upgradeRequest' } | JwksConnectionParamsExtractor;

/** GraphQL over graphql-ws (the `subscriptions` option). */
export interface JwksSubscriptionsOptions {
  /** Where the token of a graphql-ws operation is read. See `JwksSubscriptionTokenSource`. */
  token?: JwksSubscriptionTokenSource;
}

/** `subscriptions.token` after validation; null for the default. */
export type ResolvedSubscriptionTokenSource =
  | { readonly from: 'connectionParams'; readonly name: string; readonly scheme: 'Bearer' | null }
  | { readonly from: 'upgradeRequest' }
  | { readonly from: 'function'; readonly extract: JwksConnectionParamsExtractor };

/** The `subscriptions` option after validation. */
export interface ResolvedSubscriptionsOptions {
  readonly token: ResolvedSubscriptionTokenSource | null;
}

/** The token of one graphql-ws operation, from its connection's context. Throws like any `TokenReader`. */
export type GraphqlWsTokenReader = (ws: GraphqlWsContextLike) => string;

const hasOwn = (o: object, key: string): boolean => Object.prototype.hasOwnProperty.call(o, key);

/** The connection_init payload, when graphql-ws kept one (it keeps objects only; arrays are objects too). */
function paramsOf(ws: GraphqlWsContextLike): Readonly<Record<string, unknown>> | undefined {
  const params: unknown = ws.connectionParams;
  return typeof params === 'object' && params !== null && !Array.isArray(params) ? (params as Readonly<Record<string, unknown>>) : undefined;
}

/** One string entry of `connectionParams`, bounded before any pattern sees it. */
function paramValue(value: unknown, shown: string, scheme: 'Bearer' | null): string {
  if (typeof value !== 'string') throw new TokenMalformedError(`connectionParams.${shown} is not a string`);
  if (value.length > MAX_TOKEN_VALUE_CHARS) throw new TokenMalformedError(`connectionParams.${shown} is too long`);
  return credentialOf(value, `connectionParams.${shown}`, scheme);
}

/**
 * The default: `Authorization` or `authorization`, `Bearer <token>`. Both at once is refused, as a
 * repeated Authorization header is: two places a proxy or a client library might each read one of.
 */
function defaultReader(ws: GraphqlWsContextLike): string {
  const params = paramsOf(ws);
  if (params === undefined) throw new TokenMissingError('no connectionParams');
  const upper = hasOwn(params, 'Authorization');
  const lower = hasOwn(params, 'authorization');
  if (upper && lower) throw new TokenMalformedError('both connectionParams.Authorization and connectionParams.authorization');
  if (!upper && !lower) throw new TokenMissingError('no connectionParams.Authorization');
  return upper ? paramValue(params.Authorization, 'Authorization', 'Bearer') : paramValue(params.authorization, 'authorization', 'Bearer');
}

function namedReader(name: string, scheme: 'Bearer' | null): GraphqlWsTokenReader {
  return (ws) => {
    const params = paramsOf(ws);
    if (params === undefined || !hasOwn(params, name)) throw new TokenMissingError('no such connectionParams entry');
    const value = params[name];
    if (value === null || value === undefined) throw new TokenMissingError('empty connectionParams entry');
    return paramValue(value, 'entry', scheme);
  };
}

/** A custom extractor, held to the reader's contract: whatever it does, a coded refusal, never a crash. */
function extractorReader(extract: JwksConnectionParamsExtractor, onError: (err: unknown) => void): GraphqlWsTokenReader {
  return (ws) => callExtractor(extract, paramsOf(ws), ws, onError, 'the subscription token extractor');
}

/**
 * The reader of `subscriptions.token`, built once per guard.
 * @param http reads an HTTP request the way the module's `token` option says (for `upgradeRequest`)
 * @param onExtractorError told when a custom extractor throws (the app's bug, to be logged)
 */
export function compileSubscriptionTokenSource(source: ResolvedSubscriptionTokenSource | null, http: TokenReader, onExtractorError: (err: unknown) => void): GraphqlWsTokenReader {
  if (source === null) return defaultReader;
  switch (source.from) {
    case 'connectionParams':
      return source.name === 'Authorization' && source.scheme === 'Bearer' ? defaultReader : namedReader(source.name, source.scheme);
    case 'upgradeRequest':
      return (ws) => http((ws.extra as { request?: unknown } | undefined)?.request);
    case 'function':
      return extractorReader(source.extract, onExtractorError);
  }
}
