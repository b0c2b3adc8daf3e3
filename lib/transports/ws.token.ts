import { Logger } from '@nestjs/common';
import { TokenMalformedError, TokenMissingError } from '../errors/jwks.errors.js';
import { JWKS_DEFAULTS } from '../jwks-auth.constants.js';
import { bearerTokenOf, extractBearerToken, type HttpRequestLike } from '../guards/authorization.header.js';
import { headerTokenReader } from '../guards/header.token.js';
import { queryTokenReader } from '../guards/query.token.js';
import { compileTokenSource, type TokenReader } from '../guards/token.source.js';
import type { ResolvedWebSocketTokenSource } from './ws.options.js';
import { upgradeRequestOf } from './ws-upgrade.registry.js';

/**
 * The token of a WebSocket client (a socket.io `Socket` or a `ws` `WebSocket`), read from what it
 * connected with. Throws `TokenMissingError` / `TokenMalformedError` like any `TokenReader`.
 */
export type ClientTokenReader = (client: unknown) => string;

/** What this package reads of a socket.io `Socket` (socket.io is never imported). */
interface SocketIoHandshake {
  auth?: unknown;
  headers?: HttpRequestLike['headers'];
  url?: unknown;
}

/** `Bearer <token>` in an `auth` field: the prefix some clients copy from their HTTP calls. */
const BEARER_PREFIX = /^Bearer(?:[ \t]|$)/i;

/** socket.io's `handshake`, or undefined for a `ws` client (which has none). */
function handshakeOf(client: unknown): SocketIoHandshake | undefined {
  const handshake: unknown = (client as { handshake?: unknown } | null | undefined)?.handshake;
  return typeof handshake === 'object' && handshake !== null ? (handshake as SocketIoHandshake) : undefined;
}

/**
 * The HTTP request a socket.io client connected with: Node's `IncomingMessage` (`socket.request`),
 * whose `rawHeaders` show a repeated header, else the handshake (headers and URL, no repetition).
 */
function socketIoRequest(client: unknown, handshake: SocketIoHandshake): HttpRequestLike {
  const request: unknown = (client as { request?: unknown }).request;
  return typeof request === 'object' && request !== null ? (request as HttpRequestLike) : (handshake as HttpRequestLike);
}

/** An own field of socket.io's `auth` object (parsed JSON from the client), never an inherited one. */
function authField(auth: unknown, name: string): unknown {
  return typeof auth === 'object' && auth !== null && Object.prototype.hasOwnProperty.call(auth, name) ? (auth as Record<string, unknown>)[name] : undefined;
}

/** A present `auth` field: a raw token, or `Bearer <token>`. Anything else is the client's fault. */
function authToken(value: unknown, name: string): string {
  if (typeof value !== 'string') throw new TokenMalformedError(`handshake auth.${name} is not a string`);
  if (value.length > JWKS_DEFAULTS.maxTokenSourceScanBytes) throw new TokenMalformedError(`handshake auth.${name} too long to read`);
  return BEARER_PREFIX.test(value) ? bearerTokenOf(value, `handshake auth.${name}`) : value;
}

const isAbsent = (value: unknown): boolean => value === undefined || value === null || value === '';

/**
 * socket.io's `auth.token` when the handshake also carries an Authorization header: never read
 * past silently. The header must name the same token; one that is repeated or a malformed bearer
 * (which HTTP refuses) or names another token (a second identity on one connection: which one a
 * proxy or a log trusted is anyone's guess) is refused as malformed. A header with no bearer
 * token (another scheme, empty) claims no identity here and leaves `auth.token` to decide. Costs
 * one property read when there is no header, the common case.
 */
function authAgreeingWithHeader(token: string, request: HttpRequestLike): string {
  if (request.headers?.authorization === undefined) return token;
  let header: string;
  try {
    header = extractBearerToken(request);
  } catch (err) {
    if (err instanceof TokenMissingError) return token;
    throw err;
  }
  if (header !== token) throw new TokenMalformedError('handshake auth.token and the Authorization header carry different tokens');
  return token;
}

/**
 * Builds the reader of `websocket.token` (null: the default). Built once per guard or handshake;
 * per message only the returned function runs: a property read or two, no parsing of anything
 * the default path does not need.
 * @param onExtractorError told when a custom extractor throws (the app's bug, to be logged)
 */
export function wsTokenReader(source: ResolvedWebSocketTokenSource | null, onExtractorError: (err: unknown) => void): ClientTokenReader {
  const wsRequest = upgradeRequestReader();
  if (source === null) {
    return (client) => {
      const handshake = handshakeOf(client);
      if (handshake === undefined) return extractBearerToken(wsRequest(client));
      const value = authField(handshake.auth, 'token');
      if (isAbsent(value)) return extractBearerToken(socketIoRequest(client, handshake));
      return authAgreeingWithHeader(authToken(value, 'token'), socketIoRequest(client, handshake));
    };
  }
  switch (source.from) {
    case 'auth': {
      const name = source.name;
      return (client) => {
        const handshake = handshakeOf(client);
        if (handshake === undefined) throw new TokenMissingError('a ws connection has no handshake auth');
        const value = authField(handshake.auth, name);
        if (isAbsent(value)) throw new TokenMissingError(`no handshake auth.${name}`);
        return authToken(value, name);
      };
    }
    case 'header':
    case 'query': {
      const read: TokenReader =
        source.from === 'query' ? queryTokenReader(source.name) : source.name === 'authorization' && source.scheme === 'Bearer' ? extractBearerToken : headerTokenReader(source.name, source.scheme);
      return (client) => {
        const handshake = handshakeOf(client);
        return read(handshake === undefined ? wsRequest(client) : socketIoRequest(client, handshake));
      };
    }
    case 'function':
      return compileTokenSource({ from: 'function', extract: source.extract }, extractBearerToken, onExtractorError);
  }
}

/**
 * The recorded upgrade request of a `ws` client. None recorded is the app's setup, not the
 * client's doing: every guarded message is then refused (no token), and the first such refusal
 * says once, at warn level, what is missing.
 */
function upgradeRequestReader(): (client: unknown) => HttpRequestLike {
  let warned = false;
  return (client) => {
    const request = upgradeRequestOf(client);
    if (request !== undefined) return request as HttpRequestLike;
    if (!warned) {
      warned = true;
      new Logger('JwksAuthGuard').warn(
        'a ws client has no recorded upgrade request, so its token cannot be read: call jwksWsHandshake.attach(server) in the gateway\'s afterInit (see JwksWsHandshake)',
      );
    }
    throw new TokenMissingError('no upgrade request recorded for this ws client');
  };
}
