import { HttpException, IntrinsicException } from '@nestjs/common';
import { KeySetUnavailableError } from '../errors/jwks.errors.js';
import { retryAfterSeconds } from '../guards/refusal.headers.js';
import { OptionalPeer } from './optional-peer.js';

/** What a WebSocket client is told when a message or a connection is refused. */
export interface JwksWsRefusalBody {
  readonly status: 'error';
  readonly message: 'Unauthorized' | 'Forbidden' | 'Service Unavailable';
  readonly code: 'UNAUTHENTICATED' | 'FORBIDDEN' | 'SERVICE_UNAVAILABLE';
  /** Seconds until a retry may succeed: only when no usable key set is held. */
  readonly retryAfter?: number;
}

/** The bodies by the HTTP status the refusal would have had (the same codes as GraphQL's). */
const BODIES: Readonly<Record<number, JwksWsRefusalBody | undefined>> = {
  401: Object.freeze({ status: 'error', message: 'Unauthorized', code: 'UNAUTHENTICATED' }),
  403: Object.freeze({ status: 'error', message: 'Forbidden', code: 'FORBIDDEN' }),
  503: Object.freeze({ status: 'error', message: 'Service Unavailable', code: 'SERVICE_UNAVAILABLE' }),
};

/**
 * The body of a refusal of HTTP status `status` (401, 403 or 503; undefined for any other), with
 * `retryAfter` when it is a 503 because no key set is held.
 */
export function wsRefusalBody(status: number, reason: unknown): JwksWsRefusalBody | undefined {
  const body = BODIES[status];
  if (body === undefined || status !== 503 || !(reason instanceof KeySetUnavailableError)) return body;
  return Object.freeze({ ...body, retryAfter: retryAfterSeconds(reason.retryAfterMs) });
}

/** The classes of `@nestjs/websockets` a refusal needs; the types are ours, the package stays optional. */
interface WebSocketsPackage {
  WsException: new (error: string | object) => Error;
  /** Only to ask whether it can reach a native WebSocket client (`emitMessage`, NestJS 12). */
  BaseWsExceptionFilter?: { prototype: object };
}

/** The `ws` client a refusal must reach itself: a native WebSocket (numeric `readyState`, `send`), open. */
type NativeWebSocket = { readyState: number; send(data: string, cb?: (err?: Error) => void): void };
const WS_OPEN = 1;

function isNativeWebSocket(client: unknown): client is NativeWebSocket {
  const c = client as Partial<NativeWebSocket> | null | undefined;
  return typeof c?.readyState === 'number' && typeof c.send === 'function';
}

/**
 * NestJS 11's `BaseWsExceptionFilter` tells the client with `client.emit('exception', …)`, which
 * on a `ws` WebSocket (an EventEmitter) only fires a local event: the client never hears of the
 * refusal. NestJS 12 sends native clients `{ event: 'exception', data }` instead (`emitMessage`).
 * Where the filter cannot, the refusal sends that same frame itself, so `ws` clients get the same
 * answer on both versions.
 */
function tellNativeClient(ws: WebSocketsPackage, client: unknown, body: JwksWsRefusalBody): void {
  const filter = ws.BaseWsExceptionFilter?.prototype as { emitMessage?: unknown } | undefined;
  if (typeof filter?.emitMessage === 'function' || !isNativeWebSocket(client)) return;
  if (client.readyState !== WS_OPEN) return;
  try {
    // The callback swallows a send failure (the peer went away): nothing to tell then.
    client.send(JSON.stringify({ event: 'exception', data: body }), () => undefined);
  } catch {
    // A client that cannot be written to cannot be told.
  }
}

/**
 * `@nestjs/websockets`, preloaded at guard init: its exception filter sends the object error of a
 * `WsException` to the client as is (on the `exception` event), and treats anything else as an
 * internal error.
 */
export const websocketsPeer = new OptionalPeer<WebSocketsPackage>('@nestjs/websockets', () => import('@nestjs/websockets') as Promise<WebSocketsPackage>);

/**
 * A refusal when `@nestjs/websockets` is not loaded (yet): the app cannot crash on it, and as an
 * `IntrinsicException` it is not logged as an error per message. The client is then told
 * Nest's generic error; `getError()` still gives the body to an exception filter of the app's own.
 */
export class JwksWsRefusal extends IntrinsicException {
  override readonly name = 'JwksWsRefusal';
  constructor(private readonly body: JwksWsRefusalBody) {
    super(body.message);
  }

  getError(): JwksWsRefusalBody {
    return this.body;
  }
}

/**
 * What the guard throws on a WebSocket message: the app's own `WsException` with a
 * `JwksWsRefusalBody`, which Nest's `BaseWsExceptionFilter` emits unchanged on `exception` (no
 * "Internal server error", no error log). Anything that is not a 401/403/503 `HttpException` is
 * thrown as it is.
 */
export function wsRefusal(thrown: unknown, reason: unknown, client?: unknown): unknown {
  if (!(thrown instanceof HttpException)) return thrown;
  const body = wsRefusalBody(thrown.getStatus(), reason);
  if (body === undefined) return thrown;
  const ws = websocketsPeer.get();
  if (ws === undefined) {
    // The guard's init was skipped (a guard built by hand): load it for the next refusal.
    void websocketsPeer.preload();
    return new JwksWsRefusal(body);
  }
  tellNativeClient(ws, client, body);
  return new ws.WsException(body);
}
