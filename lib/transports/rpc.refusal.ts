import { HttpException, IntrinsicException } from '@nestjs/common';
import { KeySetUnavailableError } from '../errors/jwks.errors.js';
import { retryAfterSeconds } from '../guards/refusal.headers.js';
import type { MicroservicesPeer } from './microservices.peer.js';

/** What a microservice client's `send()` errors with when the guard refuses a message. */
export interface JwksRpcRefusalBody {
  readonly status: 'error';
  readonly message: 'Unauthorized' | 'Forbidden' | 'Service Unavailable';
  readonly code: 'UNAUTHENTICATED' | 'FORBIDDEN' | 'SERVICE_UNAVAILABLE';
  /** Seconds, on `SERVICE_UNAVAILABLE` when no usable key set is held. */
  readonly retryAfter?: number;
}

/** The body by the HTTP status a refusal would have had (`unavailableStatus` 503 included); codes as GraphQL's. */
const BODIES: Readonly<Record<number, Pick<JwksRpcRefusalBody, 'message' | 'code'> | undefined>> = {
  401: { message: 'Unauthorized', code: 'UNAUTHENTICATED' },
  403: { message: 'Forbidden', code: 'FORBIDDEN' },
  503: { message: 'Service Unavailable', code: 'SERVICE_UNAVAILABLE' },
};

/**
 * A refusal with nobody to answer: an `@EventPattern` message, or `@nestjs/microservices` not
 * loaded. An `IntrinsicException`, so Nest's RPC exception handler neither logs it (it logs every
 * `RpcException` of an event handler at error level) nor crashes; the guard has logged the reason
 * at debug level.
 */
export class JwksRpcQuietRefusal extends IntrinsicException {
  override readonly name = 'JwksRpcQuietRefusal';
  constructor(readonly body: JwksRpcRefusalBody) {
    super(body.message);
  }
}

/** The body of a refusal, or undefined when `thrown` is not one of ours (a subclass's own error: thrown as is). */
export function rpcRefusalBody(thrown: unknown, reason: unknown): JwksRpcRefusalBody | undefined {
  if (!(thrown instanceof HttpException)) return undefined;
  const status = thrown.getStatus();
  const body = BODIES[status];
  if (body === undefined) return undefined;
  if (status === 503 && reason instanceof KeySetUnavailableError) return { status: 'error', ...body, retryAfter: retryAfterSeconds(reason.retryAfterMs) };
  return { status: 'error', ...body };
}

/**
 * What the guard throws for a refused message: the app's own `RpcException` with the body as its
 * error (Nest's RPC filter sends an object error as is, so the client's `send()` errors with it),
 * or a quiet refusal for events.
 */
export function rpcRefusal(thrown: unknown, reason: unknown, isEvent: boolean, peer: MicroservicesPeer | undefined): unknown {
  const body = rpcRefusalBody(thrown, reason);
  if (body === undefined) return thrown;
  if (isEvent || peer === undefined) return new JwksRpcQuietRefusal(body);
  return new peer.RpcException(body);
}
