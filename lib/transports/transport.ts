import type { ExecutionContext } from '@nestjs/common';

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
   * a subclass chose otherwise), `reason` the verification error behind it (or null).
   */
  refusal(thrown: unknown, reason: unknown): unknown;
}
