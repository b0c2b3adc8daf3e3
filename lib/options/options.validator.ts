import { JWKS_DEFAULTS, SUPPORTED_ALGORITHMS } from '../jwks-auth.constants.js';
import { JwksOptionsError } from '../errors/jwks.errors.js';
import type { JwksAuthModuleOptions, ResolvedJwksOptions } from '../interfaces/jwks-auth-options.interface.js';

const LOOPBACK_HOSTS = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkUrl(problems: string[], name: string, value: unknown): void {
  if (typeof value !== 'string' || value === '') {
    problems.push(`${name} is required and must be a URL string`);
    return;
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    problems.push(`${name} is not a valid URL`);
    return;
  }
  if (url.username || url.password) problems.push(`${name} must not contain credentials`);
  // Plain http would let anyone on the path swap the keys; loopback is allowed for local development.
  if (url.protocol === 'http:' && !LOOPBACK_HOSTS.test(url.hostname)) {
    problems.push(`${name} must use https: (http: is allowed for localhost, 127.0.0.0/8 and [::1] only)`);
  } else if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    problems.push(`${name} must use https:`);
  }
}

function positiveNumber(problems: string[], name: string, value: unknown, fallback: number, allowZero = false): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    problems.push(`${name} must be a ${allowZero ? 'non-negative' : 'positive'} finite number (milliseconds unless named *Sec)`);
    return fallback;
  }
  return value;
}

/**
 * Validates user options and applies defaults. Every mistake is collected, so one startup error
 * lists them all.
 * @throws JwksOptionsError
 */
export function resolveJwksOptions(input: JwksAuthModuleOptions): ResolvedJwksOptions {
  const problems: string[] = [];
  if (!isPlainObject(input)) throw new JwksOptionsError(['options must be an object']);

  if (typeof input.issuer !== 'string' || input.issuer.trim() === '') {
    problems.push('issuer is required: the exact "iss" of your tokens, e.g. "https://tenant.auth0.com/"');
  }
  checkUrl(problems, 'jwksUri', input.jwksUri);

  const audience = typeof input.audience === 'string' ? [input.audience] : input.audience;
  if (!Array.isArray(audience) || audience.length === 0 || audience.some((a) => typeof a !== 'string' || a === '')) {
    problems.push('audience is required: a non-empty string or array of non-empty strings');
  }

  const algorithms = input.algorithms ?? [...JWKS_DEFAULTS.algorithms];
  if (!Array.isArray(algorithms) || algorithms.length === 0) {
    problems.push(`algorithms must be a non-empty array of: ${SUPPORTED_ALGORITHMS.join(', ')}`);
  } else {
    for (const alg of algorithms) {
      if (typeof alg === 'string' && /^(HS\d+|none)$/i.test(alg)) {
        problems.push(`algorithm "${alg}" is refused: symmetric and unsigned tokens cannot be verified with a public key set`);
      } else if (!(SUPPORTED_ALGORITHMS as readonly unknown[]).includes(alg)) {
        problems.push(`algorithm "${String(alg)}" is not supported; use ${SUPPORTED_ALGORITHMS.join(', ')}`);
      }
    }
  }

  const maxTokenAgeSec = input.maxTokenAgeSec === undefined ? null : positiveNumber(problems, 'maxTokenAgeSec', input.maxTokenAgeSec, 0);
  const requiredClaims = input.requiredClaims ?? [];
  if (!Array.isArray(requiredClaims) || requiredClaims.some((c) => typeof c !== 'string' || c === '')) {
    problems.push('requiredClaims must be an array of claim names');
  }
  if (input.typ !== undefined && (typeof input.typ !== 'string' || input.typ === '')) problems.push('typ must be a non-empty string such as "at+jwt"');
  const clockToleranceSec = positiveNumber(problems, 'clockToleranceSec', input.clockToleranceSec, JWKS_DEFAULTS.clockToleranceSec, true);
  if (input.cache !== undefined && !isPlainObject(input.cache)) problems.push('cache must be an object');
  if (input.fetch !== undefined && !isPlainObject(input.fetch)) problems.push('fetch must be an object');
  const c = isPlainObject(input.cache) ? input.cache : {};
  const f = isPlainObject(input.fetch) ? input.fetch : {};
  const cache = {
    ttlMs: positiveNumber(problems, 'cache.ttlMs', c.ttlMs, JWKS_DEFAULTS.ttlMs),
    cooldownMs: positiveNumber(problems, 'cache.cooldownMs', c.cooldownMs, JWKS_DEFAULTS.cooldownMs, true),
    maxStaleMs: positiveNumber(problems, 'cache.maxStaleMs', c.maxStaleMs, JWKS_DEFAULTS.maxStaleMs, true),
    refreshAheadMs: positiveNumber(problems, 'cache.refreshAheadMs', c.refreshAheadMs, JWKS_DEFAULTS.refreshAheadMs, true),
    minTtlMs: positiveNumber(problems, 'cache.minTtlMs', c.minTtlMs, JWKS_DEFAULTS.minTtlMs),
    maxTtlMs: positiveNumber(problems, 'cache.maxTtlMs', c.maxTtlMs, JWKS_DEFAULTS.maxTtlMs),
    snapshotPath: null as string | null,
  };
  if (cache.minTtlMs > cache.maxTtlMs) problems.push('cache.minTtlMs must not exceed cache.maxTtlMs');
  if (c.snapshotPath !== undefined) {
    if (typeof c.snapshotPath !== 'string' || c.snapshotPath === '') problems.push('cache.snapshotPath must be a non-empty file path');
    else cache.snapshotPath = c.snapshotPath;
  }
  const fetch = {
    timeoutMs: positiveNumber(problems, 'fetch.timeoutMs', f.timeoutMs, JWKS_DEFAULTS.fetchTimeoutMs),
    maxResponseBytes: positiveNumber(problems, 'fetch.maxResponseBytes', f.maxResponseBytes, JWKS_DEFAULTS.maxResponseBytes),
    maxKeys: positiveNumber(problems, 'fetch.maxKeys', f.maxKeys, JWKS_DEFAULTS.maxKeys),
  };
  let verifiedTokenCache: { maxEntries: number; ttlMs: number } | null = null;
  const vtc = input.verifiedTokenCache;
  if (vtc === true || isPlainObject(vtc)) {
    const o = isPlainObject(vtc) ? vtc : {};
    verifiedTokenCache = {
      maxEntries: positiveNumber(problems, 'verifiedTokenCache.maxEntries', o.maxEntries, JWKS_DEFAULTS.verifiedTokenCacheMaxEntries),
      ttlMs: positiveNumber(problems, 'verifiedTokenCache.ttlMs', o.ttlMs, JWKS_DEFAULTS.verifiedTokenCacheTtlMs),
    };
  } else if (vtc !== undefined && vtc !== false) {
    problems.push('verifiedTokenCache must be a boolean or { maxEntries, ttlMs }');
  }
  for (const flag of ['globalGuard', 'failOnWarmupError'] as const) {
    if (input[flag] !== undefined && typeof input[flag] !== 'boolean') problems.push(`${flag} must be a boolean`);
  }

  if (problems.length > 0) throw new JwksOptionsError(problems);
  return Object.freeze({
    issuer: input.issuer,
    jwksUri: input.jwksUri,
    audience: Object.freeze([...(audience as string[])]),
    algorithms: Object.freeze([...algorithms]),
    clockToleranceSec,
    maxTokenAgeSec,
    requiredClaims: Object.freeze([...requiredClaims]),
    typ: input.typ ?? null,
    cache: Object.freeze(cache),
    fetch: Object.freeze(fetch),
    verifiedTokenCache: verifiedTokenCache && Object.freeze(verifiedTokenCache),
    globalGuard: input.globalGuard ?? false,
    failOnWarmupError: input.failOnWarmupError ?? false,
    maxTokenBytes: JWKS_DEFAULTS.maxTokenBytes,
  });
}
