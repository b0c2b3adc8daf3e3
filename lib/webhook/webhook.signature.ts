import { createHmac, timingSafeEqual } from 'node:crypto';
import { WEBHOOK_DEFAULTS } from '../jwks-auth.constants.js';

/** Why a signed notice was refused: shown in the log line (never the signature itself). */
export type WebhookSignatureRefusal = 'missing' | 'malformed' | 'outside-window' | 'mismatch' | 'replayed' | 'oversized';

export type WebhookSignatureResult = { readonly ok: true } | { readonly ok: false; readonly reason: WebhookSignatureRefusal };

/** `t=<unix seconds>,v1=<64 hex>[,v1=…]`: several `v1` so a sender can sign with an old and a new secret during a secret rotation. */
const PART = /^(t|v1)=([0-9a-f]+)$/;

/**
 * Signatures already accepted, each until it leaves the replay window. Bounded: past `max` the
 * oldest goes first. Insertion order is acceptance order, so expired entries sit at the front.
 */
export class WebhookReplayGuard {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly max: number = WEBHOOK_DEFAULTS.maxSeenSignatures,
    private readonly toleranceSec: number = WEBHOOK_DEFAULTS.toleranceSec,
  ) {}

  /** True the first time a signature is offered inside its window, false on every replay. */
  accept(signature: string, nowSec: number): boolean {
    for (const [key, until] of this.seen) {
      if (until >= nowSec) break;
      this.seen.delete(key);
    }
    if (this.seen.has(signature)) return false;
    // A signature is valid while |now − t| ≤ tolerance, so remembering it for 2 × tolerance covers it.
    this.seen.set(signature, nowSec + 2 * this.toleranceSec);
    if (this.seen.size > this.max) this.seen.delete(this.seen.keys().next().value as string);
    return true;
  }

  get size(): number {
    return this.seen.size;
  }
}

/** `v1` for a body at a time: hex HMAC-SHA256(secret, `<t>.<raw body>`), as a sender computes it. */
export function signWebhookBody(secret: string, t: number, body: Buffer | string): string {
  return createHmac('sha256', secret).update(`${t}.`).update(body).digest('hex');
}

/**
 * Checks `x-jwks-signature` over the raw body: well formed, `t` within the window of `nowSec`, a
 * `v1` equal (constant time) to the HMAC with `secret`, and not seen before. Pure but for the
 * replay guard, which it updates only for a signature that verified.
 */
export function verifyWebhookSignature(input: {
  header: string | string[] | undefined;
  body: Buffer;
  secret: string;
  nowSec: number;
  replay: WebhookReplayGuard;
  toleranceSec?: number;
  maxBodyBytes?: number;
}): WebhookSignatureResult {
  const { header, body, secret, nowSec, replay } = input;
  const toleranceSec = input.toleranceSec ?? WEBHOOK_DEFAULTS.toleranceSec;
  if (body.length > (input.maxBodyBytes ?? WEBHOOK_DEFAULTS.maxBodyBytes)) return { ok: false, reason: 'oversized' };
  if (header === undefined || header === '') return { ok: false, reason: 'missing' };
  // A repeated header is ambiguous (which one did the sender mean?): refused, like a repeated Authorization.
  if (typeof header !== 'string' || header.length > WEBHOOK_DEFAULTS.maxSignatureHeaderChars) return { ok: false, reason: 'malformed' };
  let t: number | null = null;
  const candidates: Buffer[] = [];
  for (const part of header.split(',')) {
    const match = PART.exec(part.trim());
    if (match === null) return { ok: false, reason: 'malformed' };
    if (match[1] === 't') {
      // Decimal seconds only, one `t`, and a sane length (no 1e308 or leading-zero games).
      if (t !== null || !/^[1-9][0-9]{0,11}$/.test(match[2])) return { ok: false, reason: 'malformed' };
      t = Number(match[2]);
    } else {
      if (match[2].length !== 64) return { ok: false, reason: 'malformed' };
      candidates.push(Buffer.from(match[2], 'hex'));
    }
  }
  if (t === null || candidates.length === 0) return { ok: false, reason: 'malformed' };
  if (Math.abs(nowSec - t) > toleranceSec) return { ok: false, reason: 'outside-window' };
  const expected = createHmac('sha256', secret).update(`${t}.`).update(body).digest();
  let matched: Buffer | null = null;
  // Every candidate is compared, so the time taken does not say which one matched.
  for (const candidate of candidates) if (timingSafeEqual(candidate, expected) && matched === null) matched = candidate;
  if (matched === null) return { ok: false, reason: 'mismatch' };
  // Keyed on t and the HMAC: the same body re-signed at another second is a new notice.
  if (!replay.accept(`${t}.${matched.toString('hex')}`, nowSec)) return { ok: false, reason: 'replayed' };
  return { ok: true };
}
