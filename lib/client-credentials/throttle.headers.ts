/**
 * How long a token endpoint asks us to wait, read from its response headers. Pure functions of
 * header values and the current time; the caller caps the result.
 */

/** Which header (or our own backoff) set a wait. A low-cardinality label for events and metrics. */
export type ThrottleSource = 'retry-after' | 'x-ratelimit-reset' | 'auth0-client-quota-limit' | 'backoff' | 'client-error';

/** A server-given wait: until `at` (epoch ms), set by `source`. */
export interface ServerWait {
  at: number;
  source: ThrottleSource;
}

/** The header values the policy reads (null when absent). */
export interface ThrottleHeaders {
  retryAfter: string | null;
  rateLimitReset: string | null;
  /** `auth0-client-quota-limit`, and the organization quota header, joined with a comma when both came. */
  quotaLimit: string | null;
}

/** Reads the three header values from a fetch `Headers`. */
export function throttleHeadersOf(headers: { get(name: string): string | null }): ThrottleHeaders {
  const client = headers.get('auth0-client-quota-limit');
  const org = headers.get('auth0-organization-quota-limit');
  return {
    retryAfter: headers.get('retry-after'),
    rateLimitReset: headers.get('x-ratelimit-reset'),
    quotaLimit: client !== null && org !== null ? `${client},${org}` : (client ?? org),
  };
}

/** Headers longer than this are not read: a hostile value must not cost parsing time. */
const MAX_HEADER_CHARS = 1024;
/** Unix seconds beyond this are an epoch moment (2001-09-09), below it a delta: no delta is 30 years. */
const EPOCH_SECONDS_FLOOR = 1_000_000_000;

/**
 * The latest moment any of the headers asks us to wait until, or null when none says anything
 * usable. `Retry-After` is delta-seconds or an HTTP date (RFC 9110 §10.2.3); `x-ratelimit-reset`
 * is Auth0's Unix time in seconds, though some servers send delta-seconds there, so a small value
 * counts as a delta; `auth0-client-quota-limit` is `b=per_hour;q=10;r=0;t=3540,b=per_day;...`
 * where a bucket with `r=0` must wait `t` seconds.
 *
 * `onlyExhaustedQuota`: on a success, `x-ratelimit-reset` and `Retry-After` say nothing about the
 * next request (Auth0 sends the reset on every answer); only an exhausted quota bucket does.
 */
export function serverWait(headers: ThrottleHeaders, now: number, onlyExhaustedQuota = false): ServerWait | null {
  let best: ServerWait | null = null;
  const consider = (at: number | null, source: ThrottleSource) => {
    if (at !== null && at > now && (best === null || at > best.at)) best = { at, source };
  };
  if (!onlyExhaustedQuota) {
    consider(retryAfterAt(headers.retryAfter, now), 'retry-after');
    consider(rateLimitResetAt(headers.rateLimitReset, now), 'x-ratelimit-reset');
  }
  consider(quotaResetAt(headers.quotaLimit, now), 'auth0-client-quota-limit');
  return best;
}

/** `Retry-After`: delta-seconds or an HTTP date. */
export function retryAfterAt(value: string | null, now: number): number | null {
  if (value === null || value.length > MAX_HEADER_CHARS) return null;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return now + secondsToMs(trimmed);
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? null : at;
}

/** `x-ratelimit-reset`: Unix seconds (Auth0), or delta-seconds when too small to be a moment. */
export function rateLimitResetAt(value: string | null, now: number): number | null {
  if (value === null || value.length > MAX_HEADER_CHARS) return null;
  const trimmed = value.trim();
  if (!/^\d+(\.\d+)?$/.test(trimmed)) return null;
  const seconds = Number(trimmed);
  if (!Number.isFinite(seconds)) return null;
  return seconds >= EPOCH_SECONDS_FLOOR ? Math.ceil(seconds * 1000) : now + Math.ceil(seconds * 1000);
}

/** The latest reset among the exhausted buckets (`r=0`) of `auth0-client-quota-limit`. */
export function quotaResetAt(value: string | null, now: number): number | null {
  if (value === null || value.length > MAX_HEADER_CHARS) return null;
  let latest: number | null = null;
  for (const bucket of value.split(',')) {
    let remaining: number | undefined;
    let resetSeconds: number | undefined;
    for (const pair of bucket.split(';')) {
      const eq = pair.indexOf('=');
      if (eq < 0) continue;
      const name = pair.slice(0, eq).trim().toLowerCase();
      const v = pair.slice(eq + 1).trim();
      if (!/^\d+$/.test(v)) continue;
      if (name === 'r') remaining = Number(v);
      else if (name === 't') resetSeconds = Number(v);
    }
    if (remaining === 0 && resetSeconds !== undefined) {
      const at = now + secondsToMs(String(resetSeconds));
      if (latest === null || at > latest) latest = at;
    }
  }
  return latest;
}

/** Digits as ms, without losing a huge value to Infinity or precision (the caller caps it anyway). */
function secondsToMs(digits: string): number {
  return digits.length > 12 ? 1e15 : Number(digits) * 1000;
}
