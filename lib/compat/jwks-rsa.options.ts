import { JwksArgumentError } from '../errors/jwks.errors.js';
import type { IssuerRegistry } from '../issuers/issuer.registry.js';
import { describeUrl } from '../options/options.validator.js';
import { describeValue, suggestion } from '../options/option.checks.js';

/**
 * jwks-rsa's tuning options. Accepted so a recipe's call compiles and runs unchanged, and ignored:
 * the module's own cache (single flight, unknown-kid cooldown, last-known-good) replaces them.
 */
export interface JwksRsaTuningOptions {
  /** Ignored: the module always caches (`cache.ttlMs`). */
  cache?: boolean;
  /** Ignored: unknown kids refetch at most once per `cache.cooldownMs`. */
  rateLimit?: boolean;
  /** Ignored: see `rateLimit`. */
  jwksRequestsPerMinute?: number;
  /** Ignored: the set holds at most `fetch.maxKeys` keys. */
  cacheMaxEntries?: number;
  /** Ignored: see `cache.ttlMs`. */
  cacheMaxAge?: number;
  /** Ignored: the last good set serves through outages for `cache.maxStaleMs`. */
  cacheMaxAgeFallback?: number;
  /** Ignored: see `fetch.timeoutMs`. */
  timeout?: number;
  /**
   * Must be the `jwksUri` of a configured issuer, exactly: the keys then come from that issuer only.
   * Left out: every configured issuer, chosen by the token's `iss`.
   */
  jwksUri?: string;
}

const TUNING = ['cache', 'rateLimit', 'jwksRequestsPerMinute', 'cacheMaxEntries', 'cacheMaxAge', 'cacheMaxAgeFallback', 'timeout', 'jwksUri'] as const;

/**
 * jwks-rsa options that would change where or how keys are fetched: refused rather than ignored,
 * since ignoring them would fetch keys from somewhere the caller did not ask for.
 */
const REFUSED: Record<string, string> = {
  fetcher: 'the module fetches the keys itself; to replace its HTTP client provide JWKS_FETCHER',
  getKeysInterceptor: 'the module holds the keys itself; to seed them at startup use cache.snapshotPath or a JWKS_STORE',
  proxy: 'the module fetches the keys itself; to fetch through a proxy provide JWKS_FETCHER',
  requestAgent: 'the module fetches the keys itself; to use another agent provide JWKS_FETCHER',
  requestHeaders: 'the module fetches the keys itself; to send headers provide JWKS_FETCHER',
  onStaleCacheFallback: 'stale serving is reported as the stale-served event (JWKS_EVENT_LISTENERS)',
};

/**
 * Checks jwks-rsa-shaped options and returns the issuer they pin (by `jwksUri`), or undefined for
 * all configured issuers.
 * @throws JwksArgumentError listing every problem
 */
export function checkJwksRsaOptions(caller: string, options: unknown, extra: readonly string[], registry: IssuerRegistry): string | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new JwksArgumentError(`${caller}: options must be an object, got ${describeValue(options)}`);
  }
  const known = [...TUNING, ...extra];
  const problems: string[] = [];
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const why = Object.hasOwn(REFUSED, key) ? REFUSED[key] : undefined;
    if (why !== undefined) {
      problems.push(`"${key}" is not supported: ${why}`);
      continue;
    }
    const hint = suggestion(key, known);
    problems.push(`unknown option "${key}"${hint ? ` (did you mean "${hint}"?)` : ''}`);
  }
  const jwksUri = (options as { jwksUri?: unknown }).jwksUri;
  let pinned: string | undefined;
  if (jwksUri !== undefined) {
    if (typeof jwksUri !== 'string') problems.push(`jwksUri must be a string, got ${describeValue(jwksUri)}`);
    else {
      pinned = registry.sources().find((s) => s.issuer.jwksUri === jwksUri)?.issuer.issuer;
      if (pinned === undefined) {
        const configured = registry.sources().map((s) => (s.issuer.jwksUri === null ? `${JSON.stringify(s.issuer.issuer)} (by discovery)` : describeUrl(s.issuer.jwksUri)));
        problems.push(
          `jwksUri ${describeUrl(jwksUri)} is not the jwksUri of a configured issuer (configured: ${configured.slice(0, 3).join(', ') || 'none'}${configured.length > 3 ? ', ...' : ''}); ` +
            'configure that issuer in JwksAuthModule, or leave jwksUri out to serve every configured issuer by the token\'s iss',
        );
      }
    }
  }
  if (problems.length > 0) throw new JwksArgumentError(`${caller}: ${problems.join('; ')}`);
  return pinned;
}
