import { CLIENT_CREDENTIALS_DEFAULTS } from '../jwks-auth.constants.js';
import type { TokenEndpointErrorKind } from '../errors/jwks.errors.js';
import { serverWait, type ThrottleHeaders, type ThrottleSource } from './throttle.headers.js';

/**
 * The client-credentials cache policy: pure, clock-injected (every function takes `now`), no
 * HTTP, no Nest. Given what is cached for one (audience, scope) and the throttle gate, it says
 * whether to serve, refresh, or refuse; given a request's outcome, it says how long to wait.
 */

/** A token as cached (in memory or in a shared store). Times are epoch ms. */
export interface ClientTokenRecord {
  accessToken: string;
  tokenType: string;
  /** When the token expires, by our clock: receipt time + `expires_in` (capped). */
  expiresAt: number;
  /** When we received it. */
  obtainedAt: number;
  /** The scope the endpoint granted, when it said (RFC 6749 §5.1). */
  scope?: string;
}

/** No request to the token endpoint before `notBefore` (epoch ms). Shared by a fleet through the store. */
export interface ClientTokenGate {
  notBefore: number;
  /** Consecutive failed requests (the backoff exponent); 0 for a wait an exhausted quota set on a success. */
  attempts: number;
  /** Who set the wait. */
  source: ThrottleSource;
  /** The last failure's kind, when a failure set it. */
  lastError?: TokenEndpointErrorKind;
}

export interface TokenPolicyOptions {
  refreshMarginMs: number;
  refreshAheadRatio: number;
  maxMarginRatio: number;
  minRemainingMs: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  clientErrorBackoffMs: number;
  maxRetryAfterMs: number;
}

export const DEFAULT_TOKEN_POLICY: TokenPolicyOptions = {
  refreshMarginMs: CLIENT_CREDENTIALS_DEFAULTS.refreshMarginMs,
  refreshAheadRatio: CLIENT_CREDENTIALS_DEFAULTS.refreshAheadRatio,
  maxMarginRatio: CLIENT_CREDENTIALS_DEFAULTS.maxMarginRatio,
  minRemainingMs: CLIENT_CREDENTIALS_DEFAULTS.minRemainingMs,
  backoffBaseMs: CLIENT_CREDENTIALS_DEFAULTS.backoffBaseMs,
  backoffMaxMs: CLIENT_CREDENTIALS_DEFAULTS.backoffMaxMs,
  clientErrorBackoffMs: CLIENT_CREDENTIALS_DEFAULTS.clientErrorBackoffMs,
  maxRetryAfterMs: CLIENT_CREDENTIALS_DEFAULTS.maxRetryAfterMs,
};

/**
 * What to do for a caller:
 * - `serve`: the cached token, nothing else to do.
 * - `serve-and-refresh`: the cached token, and start a background refresh (past the refresh-ahead point).
 * - `fetch`: the token is missing or within its margin: wait for a request; `fallback` says the
 *   cached token may still be served if that request fails.
 * - `serve-throttled`: within the margin, but the gate forbids a request: the cached token, still valid.
 * - `fail-throttled`: no usable token and the gate forbids a request: refuse at once.
 */
export type TokenDecision =
  | { action: 'serve' }
  | { action: 'serve-and-refresh' }
  | { action: 'fetch'; fallback: boolean }
  | { action: 'serve-throttled'; retryAt: number; source: ThrottleSource }
  | { action: 'fail-throttled'; retryAt: number; source: ThrottleSource };

/** The margin this token gets: `min(refreshMarginMs, lifetime × maxMarginRatio)`. */
export function marginOf(record: ClientTokenRecord, options: TokenPolicyOptions): number {
  const lifetime = Math.max(0, record.expiresAt - record.obtainedAt);
  return Math.min(options.refreshMarginMs, lifetime * options.maxMarginRatio);
}

/** From when a caller must wait for a new token (the margin begins). */
export function refreshDueAt(record: ClientTokenRecord, options: TokenPolicyOptions): number {
  return record.expiresAt - marginOf(record, options);
}

/** From when a background refresh starts: `refreshAheadRatio` of the usable life (always before `refreshDueAt`). */
export function refreshAheadAt(record: ClientTokenRecord, options: TokenPolicyOptions): number {
  const usable = Math.max(0, refreshDueAt(record, options) - record.obtainedAt);
  return record.obtainedAt + usable * options.refreshAheadRatio;
}

/** The token may still be handed out (even past its margin, while the endpoint fails or throttles). */
export function stillUsable(record: ClientTokenRecord | null, now: number, options: TokenPolicyOptions): record is ClientTokenRecord {
  return record !== null && now < record.expiresAt - Math.min(options.minRemainingMs, marginOf(record, options) / 2);
}

/** The gate forbids a request at `now`. */
export function gateClosed(gate: ClientTokenGate | null, now: number): gate is ClientTokenGate {
  return gate !== null && now < gate.notBefore;
}

export function decideToken(record: ClientTokenRecord | null, gate: ClientTokenGate | null, now: number, options: TokenPolicyOptions): TokenDecision {
  const usable = stillUsable(record, now, options);
  if (usable) {
    if (now < refreshAheadAt(record, options)) return { action: 'serve' };
    if (now < refreshDueAt(record, options)) return gateClosed(gate, now) ? { action: 'serve' } : { action: 'serve-and-refresh' };
    if (gateClosed(gate, now)) return { action: 'serve-throttled', retryAt: gate.notBefore, source: gate.source };
    return { action: 'fetch', fallback: true };
  }
  if (gateClosed(gate, now)) return { action: 'fail-throttled', retryAt: gate.notBefore, source: gate.source };
  return { action: 'fetch', fallback: false };
}

/** A failed request, as the policy needs it. */
export interface TokenFailure {
  kind: TokenEndpointErrorKind;
  status?: number;
  headers?: ThrottleHeaders;
}

/**
 * The gate after a failed request: the server's own wait when it gave one (capped at
 * `maxRetryAfterMs`; `x-ratelimit-reset` counts only on a 429), else `clientErrorBackoffMs` for a refusal of our request (4xx but 429: a
 * retry cannot succeed soon), else exponential backoff with full jitter between `backoffBaseMs`
 * and `min(backoffMaxMs, backoffBaseMs × 2^attempts)`. `random` is in [0, 1).
 */
export function gateAfterFailure(previous: ClientTokenGate | null, failure: TokenFailure, now: number, random: () => number, options: TokenPolicyOptions): ClientTokenGate {
  const attempts = (previous?.attempts ?? 0) + 1;
  const base = { attempts, lastError: failure.kind };
  // Auth0 sends `x-ratelimit-reset` on every answer (when its bucket is full again): it is a wait only on a 429.
  const headers = failure.headers && failure.status !== 429 ? { ...failure.headers, rateLimitReset: null } : failure.headers;
  const server = headers ? serverWait(headers, now) : null;
  if (server !== null) return { ...base, notBefore: Math.min(server.at, now + options.maxRetryAfterMs), source: server.source };
  const clientError = failure.kind === 'invalid-client' || failure.kind === 'oauth-error' || (failure.status !== undefined && failure.status >= 400 && failure.status < 500 && failure.status !== 429);
  if (clientError) return { ...base, notBefore: now + options.clientErrorBackoffMs, source: 'client-error' };
  const ceiling = Math.min(options.backoffMaxMs, options.backoffBaseMs * 2 ** Math.min(attempts - 1, 30));
  const wait = options.backoffBaseMs + random() * Math.max(0, ceiling - options.backoffBaseMs);
  return { ...base, notBefore: now + Math.ceil(wait), source: 'backoff' };
}

/**
 * The gate after a success: none, unless the answer said a quota bucket is exhausted (`r=0`),
 * in which case the next request waits for its reset (capped): asking sooner can only be refused.
 */
export function gateAfterSuccess(headers: ThrottleHeaders, now: number, options: TokenPolicyOptions): ClientTokenGate | null {
  const quota = serverWait(headers, now, true);
  if (quota === null) return null;
  return { notBefore: Math.min(quota.at, now + options.maxRetryAfterMs), attempts: 0, source: quota.source };
}
