import { JWKS_DEFAULTS } from '../jwks-auth.constants.js';
import { describeValue, isPlainObject, unknownKeys, syncExtractor } from '../options/option.checks.js';

/**
 * A function that finds the token of a WebSocket client (a socket.io `Socket`, or a `ws`
 * `WebSocket`): the token, or `null`/`undefined` when there is none. Synchronous; called for every
 * guarded message, so it should only read.
 */
// The client is a socket.io `Socket` or a `ws` `WebSocket`, neither of which this package may name
// (both are optional): an extractor written for either must be assignable here.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type JwksWebSocketTokenExtractor = (client: any) => string | null | undefined;

/**
 * Where the guard (and `JwksWsHandshake`) reads a WebSocket client's token (`websocket.token`).
 * Default: socket.io's `handshake.auth.token` (a raw token or `Bearer <token>`), else the bearer
 * token of the handshake's Authorization header; `ws`: the upgrade request's Authorization header.
 * - `{ from: 'auth', name? }`: socket.io's `handshake.auth[name]` (default `token`), raw or `Bearer <token>`.
 * - `{ from: 'header', name?, scheme? }`: a header of the handshake (socket.io) or upgrade request
 *   (`ws`), read as the `token` option reads HTTP headers.
 * - `{ from: 'query', name }`: a query parameter of the handshake or upgrade URL. URLs end up in
 *   access and proxy logs: use it only where nothing else can carry the token (a browser's
 *   `WebSocket` cannot set headers; socket.io's `auth` can).
 * - a function `(client) => string | null | undefined`.
 */
export type JwksWebSocketTokenSource =
  | { from: 'auth'; name?: string }
  | { from: 'header'; name?: string; scheme?: 'Bearer' | null }
  | { from: 'query'; name: string }
  | JwksWebSocketTokenExtractor;

/** The `websocket` option: how gateways (`@nestjs/websockets`) find a client's token. */
export interface JwksWebSocketOptions {
  /** Where a client's token is read. See `JwksWebSocketTokenSource`. */
  token?: JwksWebSocketTokenSource;
}

/** `websocket.token` after validation; header names lower-cased, defaults applied. */
export type ResolvedWebSocketTokenSource =
  | { readonly from: 'auth'; readonly name: string }
  | { readonly from: 'header'; readonly name: string; readonly scheme: 'Bearer' | null }
  | { readonly from: 'query'; readonly name: string }
  | { readonly from: 'function'; readonly extract: JwksWebSocketTokenExtractor };

/** The `websocket` option after validation. */
export interface ResolvedWebSocketOptions {
  /** null: the default (socket.io's `handshake.auth.token`, then the Authorization header). */
  readonly token: ResolvedWebSocketTokenSource | null;
}

const KNOWN = ['token'] as const;
const KNOWN_TOKEN = ['from', 'name', 'scheme'] as const;
/** RFC 9110 §5.1 field names. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** A query parameter name as it appears in the URL: no separator, no `=`, no `#`, no space. */
const QUERY_NAME = /^[^&=#?\s%]+$/;
/** A socket.io `auth` field: a plain property name, never one every object has (`toString`). */
const AUTH_NAME = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;
const SHAPE = `{ from: 'auth', name? }, { from: 'header', name?, scheme? }, { from: 'query', name } or a function (client) => string | null`;



/**
 * Validates the `websocket` option, adding a line to `problems` for each fault (the caller throws
 * `JwksOptionsError` with all of them).
 */
export function websocketOption(problems: string[], value: unknown): ResolvedWebSocketOptions {
  if (value === undefined) return Object.freeze({ token: null });
  if (!isPlainObject(value)) {
    problems.push(`websocket must be { token? }, got ${describeValue(value)}`);
    return Object.freeze({ token: null });
  }
  unknownKeys(problems, 'websocket.', value, KNOWN);
  return Object.freeze({ token: tokenSource(problems, value.token) });
}

function tokenSource(problems: string[], value: unknown): ResolvedWebSocketTokenSource | null {
  if (value === undefined) return null;
  if (typeof value === 'function') {
    const extract = syncExtractor(problems, 'websocket.token', value as JwksWebSocketTokenExtractor);
    return extract === null ? null : Object.freeze({ from: 'function', extract });
  }
  if (!isPlainObject(value)) {
    problems.push(`websocket.token must be ${SHAPE}, got ${describeValue(value)}`);
    return null;
  }
  const before = problems.length;
  unknownKeys(problems, 'websocket.token.', value, KNOWN_TOKEN);
  const { from, name, scheme } = value;
  if (from !== 'auth' && from !== 'header' && from !== 'query') {
    problems.push(`websocket.token.from must be "auth", "header" or "query", got ${describeValue(from)}`);
    return null;
  }
  const max = JWKS_DEFAULTS.maxTokenSourceNameChars;
  if (scheme !== undefined && from !== 'header') problems.push(`websocket.token.scheme applies to { from: 'header' } only, not to { from: '${from}' }`);
  if (from === 'auth') {
    if (name !== undefined && !(typeof name === 'string' && name.length <= max && AUTH_NAME.test(name) && !(name in Object.prototype))) {
      problems.push(`websocket.token.name must be a field name of socket.io's handshake auth such as "token" (letters, digits, _ $ -, at most ${max}), got ${describeValue(name)}`);
    }
    if (problems.length > before) return null;
    return Object.freeze({ from, name: (name as string | undefined) ?? 'token' });
  }
  if (from === 'header') {
    if (name !== undefined && !(typeof name === 'string' && name.length <= max && HEADER_NAME.test(name))) {
      problems.push(`websocket.token.name must be a header name such as "x-api-token" (letters, digits and !#$%&'*+.^_\`|~-, at most ${max}), got ${describeValue(name)}`);
    }
    if (scheme !== undefined && scheme !== 'Bearer' && scheme !== null) {
      problems.push(`websocket.token.scheme must be "Bearer" (read "Bearer <token>") or null (the whole header value), got ${describeValue(scheme)}`);
    }
    if (problems.length > before) return null;
    const header = ((name as string | undefined) ?? 'authorization').toLowerCase();
    const resolvedScheme = scheme === undefined ? (header === 'authorization' ? 'Bearer' : null) : (scheme as 'Bearer' | null);
    return Object.freeze({ from, name: header, scheme: resolvedScheme });
  }
  if (!(typeof name === 'string' && name.length <= max && QUERY_NAME.test(name))) {
    problems.push(`websocket.token.name is required for { from: 'query' }: a query parameter name such as "access_token" (no & = # ? % or space, at most ${max}), got ${describeValue(name)}`);
  }
  if (problems.length > before) return null;
  return Object.freeze({ from, name: name as string });
}
