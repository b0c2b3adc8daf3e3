import type { ExecutionContext } from '@nestjs/common';
import { RouteMemo } from '../decorators/route.memo.js';
import { microservicesPeer } from './microservices.peer.js';
import { rpcRefusal } from './rpc.refusal.js';
import { compileMicroserviceTokenSource } from './rpc-token.source.js';
import type { Transport } from './transport.js';

/** `@nestjs/microservices`' `PATTERN_HANDLER_METADATA` and `PatternHandler.EVENT`: how `@EventPattern` marks its handler. */
const PATTERN_HANDLER_METADATA = 'microservices:handler_type';
const PATTERN_HANDLER_EVENT = 2;

type ReflectWithMetadata = { getMetadata?: (key: string, target: object) => unknown };
/** Per handler, once: whether it is an `@EventPattern` handler (nobody waits for a reply). */
const eventHandlers = new RouteMemo((handler) => typeof handler === 'function' && (Reflect as ReflectWithMetadata).getMetadata?.(PATTERN_HANDLER_METADATA, handler) === PATTERN_HANDLER_EVENT);

/**
 * Where the guard writes the user of one message, by a per-message object: the transport's context
 * (`TcpContext`, `NatsContext`, gRPC `Metadata`, ... a new one for each message), else the payload
 * object. A holder beside it, never a property on the payload: a `ValidationPipe` with
 * `forbidNonWhitelisted` would reject the message, and a handler echoing its payload would send
 * the claims back. Weak, so it lives as long as the message.
 */
const holders = new WeakMap<object, object>();

function messageKey(context: ExecutionContext): object | undefined {
  const rpcContext: unknown = context.getArgByIndex(1);
  if ((typeof rpcContext === 'object' && rpcContext !== null) || typeof rpcContext === 'function') return rpcContext;
  const data: unknown = context.getArgByIndex(0);
  return typeof data === 'object' && data !== null ? data : undefined;
}

/**
 * Microservice handlers (`@MessagePattern`, `@EventPattern`; context type 'rpc') on any Nest
 * transport. The token comes from the message's metadata (see `JwksMicroserviceTokenSource`); the
 * user is kept beside the message for `@CurrentUser()`; a refusal is the app's own `RpcException`
 * with `{ status: 'error', message, code, retryAfter? }`, or, for an event, a quiet refusal.
 */
export const rpcTransport: Transport = {
  /** The message's user holder: created on first use, one per message. */
  request(context) {
    const key = messageKey(context);
    if (key === undefined) return undefined;
    let holder = holders.get(key);
    if (holder === undefined) holders.set(key, (holder = Object.create(null) as object));
    return holder;
  },

  /** No response headers: a microservice reply has none. */
  response() {
    return undefined;
  },

  refusal(thrown, reason, context) {
    const peer = microservicesPeer.get();
    // Preloaded with the guard; should a guard have skipped its init hook, later refusals have it.
    if (peer === undefined) void microservicesPeer.preload();
    return rpcRefusal(thrown, reason, context !== undefined && eventHandlers.get(context), peer);
  },

  tokenReader({ options, onExtractorError }) {
    return compileMicroserviceTokenSource(options?.microservice?.token ?? null, onExtractorError);
  },

  peers: [microservicesPeer],
};
