import { EventEmitter } from 'node:events';
import { Injectable } from '@nestjs/common';
import type { JwksAuthEvent, JwksAuthEventListener } from './jwks-auth.events.js';

/** Every event type, as its own name, with the event it carries; and `'event'` for all of them. */
export type JwksAuthEventMap = { [T in JwksAuthEvent['type']]: Extract<JwksAuthEvent, { type: T }> } & { event: JwksAuthEvent };

/** The names `JwksAuthEvents` emits: each event's `type`, and `'event'`. */
export type JwksAuthEventName = keyof JwksAuthEventMap;

/** A subscriber of one name: the event it receives is typed by that name. */
export type JwksAuthEventHandler<K extends JwksAuthEventName> = (event: JwksAuthEventMap[K]) => void;

type Untyped = (...args: unknown[]) => void;

/**
 * The module's events as a typed Node `EventEmitter`, injectable wherever `JwksAuthModule` is
 * imported. Each event is emitted twice: under its `type` and under `'event'` (every event), and
 * each carries its `issuer`.
 *
 * ```ts
 * constructor(events: JwksAuthEvents) {
 *   events.on('key-revoked', (e) => audit(e.issuer, e.via));
 *   events.on('event', (e) => metrics.count(e.type, e.issuer));
 * }
 * ```
 *
 * Listeners run synchronously, on the path that raised the event (some, `unknown-kid` and
 * `token-refused`, on a request): keep them short and hand slow work to a queue. A listener that
 * throws is skipped; the key lookup, the verification and the other listeners carry on.
 * Fed through `JWKS_EVENT_LISTENERS`: if you provide that list yourself, add `events.listener`.
 */
@Injectable()
export class JwksAuthEvents extends EventEmitter {
  /** The `JwksAuthEventListener` that feeds this stream (in the module's `JWKS_EVENT_LISTENERS`). */
  readonly listener: JwksAuthEventListener = (event) => {
    // Nothing subscribed (the common case): one map lookup per event, no allocation.
    if (this.listenerCount(event.type) > 0) this.deliver(event.type, event);
    if (this.listenerCount('event') > 0) this.deliver('event', event);
  };

  // Typed forms of the EventEmitter methods an app uses, so `events.on('key-revoked', (e) => e.kid)`
  // type-checks without relying on a recent @types/node's generic EventEmitter.
  override on<K extends JwksAuthEventName>(name: K, handler: JwksAuthEventHandler<K>): this {
    return super.on(name, handler as Untyped);
  }
  override once<K extends JwksAuthEventName>(name: K, handler: JwksAuthEventHandler<K>): this {
    return super.once(name, handler as Untyped);
  }
  override off<K extends JwksAuthEventName>(name: K, handler: JwksAuthEventHandler<K>): this {
    return super.off(name, handler as Untyped);
  }
  override addListener<K extends JwksAuthEventName>(name: K, handler: JwksAuthEventHandler<K>): this {
    return super.addListener(name, handler as Untyped);
  }
  override removeListener<K extends JwksAuthEventName>(name: K, handler: JwksAuthEventHandler<K>): this {
    return super.removeListener(name, handler as Untyped);
  }
  override prependListener<K extends JwksAuthEventName>(name: K, handler: JwksAuthEventHandler<K>): this {
    return super.prependListener(name, handler as Untyped);
  }

  constructor() {
    super({ captureRejections: false });
    // Many services may subscribe to one module's stream; Node's leak warning at 10 would be noise.
    this.setMaxListeners(0);
  }

  /**
   * Each listener in its own try: `EventEmitter.emit` stops at the first throw, which would hide
   * the event from the listeners after it.
   */
  private deliver(name: string, event: JwksAuthEvent): void {
    // rawListeners: a copy, with `once` wrappers that remove themselves when called.
    for (const listener of this.rawListeners(name) as ((e: JwksAuthEvent) => void)[]) {
      try {
        listener.call(this, event);
      } catch {
        // A broken subscriber must not break the others, nor a key lookup.
      }
    }
  }
}
