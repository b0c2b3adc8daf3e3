/**
 * Reading the caching and rate-limit headers of a JWKS response. Pure functions of header values
 * and the current time.
 */

/** RFC 9111 §1.2.2: a delta-seconds too large to represent counts as 2^31 s, never as invalid. */
const MAX_DELTA_SECONDS = 2 ** 31;

/**
 * How much longer the response stays fresh, in ms, as RFC 9111 §4.2 defines it for a private
 * cache, or undefined when the server said nothing about freshness (the caller's default applies).
 *
 * - `no-store` and an unqualified `no-cache` return 0 (the caller clamps to its minimum).
 * - `max-age` wins over `Expires`; `s-maxage` is for shared caches and ignored.
 * - An invalid or negative `max-age`, or conflicting duplicates, mean stale (0), not "no
 *   information" (§4.2.1: invalid freshness information is stale).
 * - `Age` is subtracted: `max-age` counts from when the response was generated, so a set a CDN has
 *   held for 50 minutes of a one-hour max-age is fresh for 10 more. Our own receipt time is not
 *   compared with `Date` (§4.2.3's apparent age): a skewed local clock would then shorten or void
 *   every lifetime, while `Age` is the caches' own count.
 */
export function freshnessFromHeaders(
  cacheControl: string | null,
  expires: string | null,
  date: string | null,
  now: number,
  age: string | null,
): number | undefined {
  const lifetime = freshnessLifetime(cacheControl, expires, date, now);
  if (lifetime === undefined) return undefined;
  return Math.max(0, lifetime - ageFromHeader(age));
}

/** The freshness lifetime (§4.2.1) in ms, counted from when the response was generated. */
function freshnessLifetime(cacheControl: string | null, expires: string | null, date: string | null, now: number): number | undefined {
  if (cacheControl) {
    let maxAge: number | undefined;
    let sawMaxAge = false;
    for (const { name, value } of cacheDirectives(cacheControl)) {
      // A field-qualified no-cache (`no-cache="Set-Cookie"`) concerns only those fields.
      if (name === 'no-store' || (name === 'no-cache' && value === undefined)) return 0;
      if (name !== 'max-age') continue;
      const seconds = deltaSeconds(value);
      // Invalid, or a second max-age that disagrees with the first: stale.
      if (seconds === undefined || (sawMaxAge && seconds !== maxAge)) maxAge = -1;
      else if (maxAge !== -1) maxAge = seconds;
      sawMaxAge = true;
    }
    if (maxAge !== undefined) return maxAge < 0 ? 0 : maxAge * 1000;
  }
  if (expires) {
    const at = Date.parse(expires);
    if (Number.isNaN(at)) return 0; // an invalid Expires (or two of them, joined by a comma) means "already expired"
    const origin = date ? Date.parse(date) : NaN;
    return Math.max(0, at - (Number.isNaN(origin) ? now : origin));
  }
  return undefined;
}

/** `Age` in ms (§5.1): the first member of a list, 0 when absent or invalid. */
function ageFromHeader(age: string | null): number {
  if (age === null) return 0;
  const first = age.split(',', 1)[0].trim();
  return (deltaSeconds(first) ?? 0) * 1000;
}

/** RFC 9111 delta-seconds: digits only, capped at 2^31; undefined when invalid. */
function deltaSeconds(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d+$/.test(text)) return undefined;
  return text.length > 10 ? MAX_DELTA_SECONDS : Math.min(Number(text), MAX_DELTA_SECONDS);
}

/**
 * The directives of a Cache-Control value: lower-cased names, arguments unquoted. Commas inside a
 * quoted argument (`no-cache="a, b"`) do not split directives. One pass, linear in the length.
 */
function cacheDirectives(header: string): { name: string; value: string | undefined }[] {
  const out: { name: string; value: string | undefined }[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i <= header.length; i++) {
    const c = header[i];
    if (quoted) {
      if (c === '\\') i++;
      else if (c === '"') quoted = false;
      continue;
    }
    if (c === '"') quoted = true;
    else if (c === ',' || i === header.length) {
      const part = header.slice(start, i).trim();
      start = i + 1;
      if (part === '') continue;
      const eq = part.indexOf('=');
      if (eq < 0) out.push({ name: part.toLowerCase(), value: undefined });
      else out.push({ name: part.slice(0, eq).trim().toLowerCase(), value: unquote(part.slice(eq + 1).trim()) });
    }
  }
  return out;
}

function unquote(value: string): string {
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) return value.slice(1, -1).replace(/\\(.)/g, '$1');
  return value;
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
