import type { ExecutionContext } from '@nestjs/common';
import type { ResolvedJwksOptions } from '../interfaces/jwks-auth-options.interface.js';
import type { TokenReader } from '../guards/token.source.js';
import type { OptionalPeer } from './optional-peer.js';

/** Where refusal headers (the challenge, `Retry-After`) can be written: Express's and Node's `setHeader`, Fastify's `header`. */
export type HeaderSink = { setHeader?: (name: string, value: string) => void; header?: (name: string, value: string) => void };

/**
 * How the guard and `@CurrentUser()` meet one non-HTTP context type (`context.getType()`). HTTP
 * itself is not a transport: it stays the guard's inline fast path. A new transport is one file
 * implementing this and one line in `transport.registry.ts`.
 */
export interface Transport {
  /** The request-like object: its `headers` carry the token, and the guard writes `user` on it. */
  request(context: ExecutionContext): unknown;
  /** Where refusal headers go, when this transport rides on an HTTP response; else undefined. */
  response(context: ExecutionContext): HeaderSink | undefined;
  /**
   * What to throw for a refusal: `thrown` is what `handleRequest` threw (an `HttpException` unless
   * a subclass chose otherwise), `reason` the verification error behind it (or null), `context`
   * the call's (an RPC event is refused differently from a message awaiting a reply).
   */
  refusal(thrown: unknown, reason: unknown, context?: ExecutionContext): unknown;
  /**
   * How this transport finds the token of one call, built once per guard: from its own option in
   * `options` when the user set one, else its default. `http` reads an HTTP request the way the
   * module's `token` option says (for transports that carry one, as GraphQL over HTTP does).
   * The reader throws `TokenMissingError` / `TokenMalformedError` like any `TokenReader`.
   */
  tokenReader(setup: TransportTokenSetup): ContextTokenReader;
  /**
   * The object that lives exactly as long as one operation whose guarded calls may be many (a
   * GraphQL operation: one guard call per guarded field, and aliases multiply fields), so the
   * guard verifies its token once per operation; undefined where one call is one operation.
   */
  operation?(context: ExecutionContext): object | undefined;
  /** Optional peer packages this transport's refusals need, preloaded when the guard is initialised. */
  readonly peers?: readonly OptionalPeer<unknown>[];
}

/** What a transport builds its token reader from. */
export interface TransportTokenSetup {
  /** The module's options; undefined when the guard was built by hand (defaults apply). */
  readonly options: ResolvedJwksOptions | undefined;
  /** The HTTP reader: the module's `token` option, else the Authorization header's bearer token. */
  readonly http: TokenReader;
  /** To be told when a user-supplied extractor throws (the app's bug, logged by error name). */
  readonly onExtractorError: (err: unknown) => void;
}

/** The token of one call of a transport: `request` is what `Transport.request()` returned. */
export type ContextTokenReader = (context: ExecutionContext, request: unknown) => string;
