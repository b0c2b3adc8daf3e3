/**
 * Reading the caching and rate-limit headers of a JWKS response. Pure functions of header values
 * and the current time.
 */

/**
 * Freshness the server asked for, in ms, or undefined when it said nothing usable.
 * `no-cache`/`no-store` return 0 (the caller clamps to its minimum); `max-age` wins over `Expires`.
 */
export function freshnessFromHeaders(cacheControl: string | null, expires: string | null, date: string | null, now: number): number | undefined {
  if (cacheControl) {
    const directives = cacheControl.toLowerCase().split(',').map((d) => d.trim());
    if (directives.some((d) => d === 'no-cache' || d === 'no-store')) return 0;
    for (const d of directives) {
      const m = /^max-age\s*=\s*"?(\d{1,10})"?$/.exec(d);
      if (m) return Number(m[1]) * 1000;
    }
  }
  if (expires) {
    const at = Date.parse(expires);
    if (Number.isNaN(at)) return 0; // RFC 9111: an invalid Expires means "already expired"
    const origin = date ? Date.parse(date) : NaN;
    return Math.max(0, at - (Number.isNaN(origin) ? now : origin));
  }
  return undefined;
}

/**
 * How long the server asked us to wait before the next request, in ms: `Retry-After` (seconds or
 * an HTTP date) or Auth0's `x-ratelimit-reset` (Unix seconds), whichever is later.
 */
export function retryAfterFromHeaders(retryAfter: string | null, rateLimitReset: string | null, now: number): number | undefined {
  let wait: number | undefined;
  if (retryAfter) {
    const trimmed = retryAfter.trim();
    if (/^\d{1,10}$/.test(trimmed)) wait = Number(trimmed) * 1000;
    else {
      const at = Date.parse(trimmed);
      if (!Number.isNaN(at)) wait = Math.max(0, at - now);
    }
  }
  if (rateLimitReset && /^\d{1,12}$/.test(rateLimitReset.trim())) {
    const resetWait = Math.max(0, Number(rateLimitReset.trim()) * 1000 - now);
    wait = wait === undefined ? resetWait : Math.max(wait, resetWait);
  }
  return wait;
}
