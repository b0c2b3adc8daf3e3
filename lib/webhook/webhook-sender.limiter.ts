import { WEBHOOK_DEFAULTS } from '../jwks-auth.constants.js';

interface SenderWindow {
  start: number;
  refusals: number;
}

/**
 * Per-sender limit on the webhook's refusals (pure: the caller passes the time). A sender that was
 * refused `maxRefusals` times within a window is answered 429 until the window ends. Senders are
 * keyed by the connection's address: behind a reverse proxy every sender shares the proxy's, so the
 * webhook still acts on a request that authenticates while its address is limited (a guesser's few
 * requests a minute must not keep a revocation out); only the unauthenticated wait. Memory is bounded by `maxSenders`; the oldest windows are forgotten first.
 */
export class WebhookSenderLimiter {
  private readonly senders = new Map<string, SenderWindow>();

  constructor(
    private readonly maxRefusals: number = WEBHOOK_DEFAULTS.maxRefusalsPerSender,
    private readonly windowMs: number = WEBHOOK_DEFAULTS.refusalWindowMs,
    private readonly maxSenders: number = WEBHOOK_DEFAULTS.maxTrackedSenders,
  ) {}

  /** Milliseconds until `sender` may be heard again; 0 when it may now. */
  blockedFor(sender: string, now: number): number {
    const window = this.senders.get(sender);
    if (window === undefined) return 0;
    const ends = window.start + this.windowMs;
    if (now >= ends) {
      this.senders.delete(sender);
      return 0;
    }
    return window.refusals >= this.maxRefusals ? ends - now : 0;
  }

  /** Counts one refusal of `sender`. */
  refused(sender: string, now: number): void {
    const window = this.senders.get(sender);
    if (window !== undefined && now < window.start + this.windowMs) {
      window.refusals++;
      return;
    }
    this.senders.delete(sender);
    if (this.senders.size >= this.maxSenders) {
      // Maps iterate in insertion order: the first key is the oldest window.
      const oldest = this.senders.keys().next().value;
      if (oldest !== undefined) this.senders.delete(oldest);
    }
    this.senders.set(sender, { start: now, refusals: 1 });
  }

  /** Senders tracked now (for tests of the bound). */
  get size(): number {
    return this.senders.size;
  }
}
