import { JWKS_DEFAULT_GRANT_CLAIMS, JWKS_DEFAULTS, LOOPBACK_HOSTS, JWKS_STRATEGY_NAME, MAX_PASSPORT_ALIASES, SUPPORTED_ALGORITHMS } from '../jwks-auth.constants.js';
import { FORBIDDEN_CLAIM_SEGMENTS, type ResolvedGrantClaims, type ResolvedGrantSource } from '../authorization/grant-claims.mapper.js';
import { JwksOptionsError } from '../errors/jwks.errors.js';
import type { JwksAuthModuleOptions, JwksIssuerOptions, JwksUserMapper, ResolvedIssuerOptions, ResolvedJwksOptions } from '../interfaces/jwks-auth-options.interface.js';
import type { ResolvedTokenSource } from '../guards/token.source.js';
import { describeValue, isPlainObject, unknownKeys, syncExtractor } from './option.checks.js';
import { isUsableUserProperty, USER_PROPERTY_RULE } from '../guards/request-user.property.js';
import { subscriptionsOption } from '../transports/graphql-subscriptions.options.js';
import { resolveMicroserviceOptions } from '../transports/rpc-token.options.js';
import { websocketOption } from '../transports/ws.options.js';
import { fleetOption } from '../store/fleet.options.js';
import { webhookOption } from '../webhook/webhook.options.js';
import { metricsOption } from '../metrics/metrics.options.js';

/** A Passport strategy name: short, and safe to show in messages. */
const STRATEGY_NAME = /^[A-Za-z0-9._:-]{1,64}$/;


/**
 * Every option name, by level. An unknown name stops startup: a misspelt option (`clockTolerance`,
 * `cache.ttl`) would otherwise be ignored silently and the default would apply unnoticed.
 * `isGlobal` is the module builder's extra; it is accepted here for `forRootAsync` factories.
 */
const KNOWN_KEYS = {
  '': [
    'issuer', 'jwksUri', 'audience', 'audienceClaim', 'requiredClaimValues', 'allowedJwksHosts', 'grantClaims', 'issuers', 'maxIssuers', 'algorithms', 'clockToleranceSec', 'maxTokenAgeSec', 'requiredClaims', 'typ',
    'cache', 'fetch', 'verifiedTokenCache', 'globalGuard', 'failOnWarmupError', 'warmupTimeoutMs', 'unavailableStatus', 'strategyName',
    'token', 'subscriptions', 'microservice', 'websocket', 'mapUser', 'userProperty', 'passportAliases', 'isGlobal',
    'fleet', 'webhook', 'metrics',
  ],
  'issuers[].': [
    'issuer', 'jwksUri', 'audience', 'audienceClaim', 'requiredClaimValues', 'algorithms', 'clockToleranceSec', 'maxTokenAgeSec',
    'requiredClaims', 'typ', 'allowedJwksHosts', 'grantClaims',
  ],
  'grantClaims.': ['scopes', 'permissions', 'roles'],
  'cache.': [
    'ttlMs', 'cooldownMs', 'maxStaleMs', 'minTtlMs', 'maxTtlMs', 'snapshotPath', 'refreshAheadMs',
    'backoffBaseMs', 'backoffMaxMs', 'maxRetryAfterMs', 'maxWaiters', 'maxWaitMs',
  ],
  'fetch.': ['timeoutMs', 'maxResponseBytes', 'maxKeys'],
  'verifiedTokenCache.': ['maxEntries', 'ttlMs', 'maxBytes', 'maxEntryBytes'],
  'token.': ['from', 'name', 'scheme'],
} as const;

/** `Array.prototype.every` skips the holes of a sparse array (`[, 'sub']`); this checks every index. */
function everyIndex(values: readonly unknown[], ok: (value: unknown) => boolean): boolean {
  for (let i = 0; i < values.length; i++) if (!ok(values[i])) return false;
  return true;
}

function checkKeys(problems: string[], prefix: keyof typeof KNOWN_KEYS, value: Record<string, unknown>, shown: string = prefix): void {
  unknownKeys(problems, shown, value, KNOWN_KEYS[prefix]);
}

/** A URL as shown in an error: credentials and query string masked, since either may hold a secret. */
export function describeUrl(value: string): string {
  // Userinfo ends at the first `/ ? # \`: a backslash ends the host for the URL parser, so
  // `https://evil\@good` shows its real host, evil, rather than masking it as a password.
  return describeValue(value.replace(/^([^:/?#\\]*:\/\/)[^/?#\\]*@/, '$1***@').replace(/[?#].*$/s, '?…'));
}

function checkUrl(problems: string[], name: string, value: unknown): void {
  if (typeof value !== 'string' || value === '') {
    problems.push(`${name} is required and must be a URL string, got ${describeValue(value)}`);
    return;
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    problems.push(`${name} is not a valid URL, got ${describeUrl(value)}`);
    return;
  }
  if (url.username || url.password) problems.push(`${name} must not contain credentials`);
  // The WHATWG parser reads `\` as `/`, other parsers do not: an upstream check could see another host.
  if (value.includes('\\')) problems.push(`${name} must not contain a backslash, got ${describeUrl(value)}`);
  // Plain http would let anyone on the path swap the keys; loopback is allowed for local development.
  if (url.protocol === 'http:' && !LOOPBACK_HOSTS.test(url.hostname)) {
    problems.push(`${name} must use https: (http: is allowed for localhost, 127.0.0.0/8 and [::1] only), got ${describeUrl(value)}`);
  } else if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    problems.push(`${name} must use https:, got ${describeUrl(value)}`);
  }
}

interface NumberRule {
  /** 0 is allowed (a cooldown or tolerance of zero). */
  zero?: boolean;
  /** A count or a size: a whole number. */
  integer?: boolean;
  unit?: string;
  /** Largest sensible value, with the reason shown when it is exceeded. */
  max?: { value: number; why: string };
}

/** A number option: finite, not negative, zero and fractions only where they mean something. */
function numberOption(problems: string[], name: string, value: unknown, fallback: number, rule: NumberRule = {}): number {
  if (value === undefined) return fallback;
  const ok =
    typeof value === 'number' &&
    Number.isFinite(value) &&
    value >= 0 &&
    (rule.zero || value > 0) &&
    (!rule.integer || Number.isInteger(value));
  if (!ok) {
    const kind = `${rule.zero ? 'non-negative' : 'positive'} ${rule.integer ? 'integer' : 'finite number'}`;
    problems.push(`${name} must be a ${kind}${rule.unit ? ` (${rule.unit})` : ''}, got ${describeValue(value)}`);
    return fallback;
  }
  if (rule.max !== undefined && (value as number) > rule.max.value) {
    problems.push(`${name} must be at most ${rule.max.value} (${rule.max.why}), got ${describeValue(value)}`);
    return fallback;
  }
  return value as number;
}

const MS = { unit: 'milliseconds' };
/** Node fires a timer delay above 2^31 - 1 ms at once: a timeout that large would abort every fetch. */
const TIMER_MS = { unit: 'milliseconds', max: { value: 2 ** 31 - 1, why: "Node's timer limit" } };
const MS0 = { zero: true, unit: 'milliseconds' };
const COUNT = { integer: true };

/** Refuses `a ≥ b` (or `a > b`) when the user set either side, naming both values. */
function ordered(problems: string[], a: [string, number], b: [string, number], strict: boolean): void {
  if (strict ? a[1] >= b[1] : a[1] > b[1]) {
    problems.push(`${a[0]} (${a[1]}) must be ${strict ? 'less than' : 'at most'} ${b[0]} (${b[1]})`);
  }
}

/**
 * Validates user options and applies defaults. Every mistake is collected, so one startup error
 * lists them all: unknown or misspelt names, wrong types, non-integer counts and contradictions,
 * each with the offending value.
 * @throws JwksOptionsError
 */
export function resolveJwksOptions(input: JwksAuthModuleOptions): ResolvedJwksOptions {
  try {
    return resolve(input);
  } catch (err) {
    if (err instanceof JwksOptionsError) throw err;
    // A getter or proxy that throws while the options are read: still the typed startup error.
    throw new JwksOptionsError([`options could not be read (${(err as Error)?.name ?? 'error'} while reading them)`]);
  }
}

function resolve(input: JwksAuthModuleOptions): ResolvedJwksOptions {
  const problems: string[] = [];
  if (!isPlainObject(input as unknown)) throw new JwksOptionsError([`options must be an object, got ${describeValue(input)}`]);
  checkKeys(problems, '', input as unknown as Record<string, unknown>);

  // Issuer problems are listed first, then the shared ones, in the order the options are documented.
  const sharedProblems: string[] = [];
  const shared = resolveShared(sharedProblems, input);
  const flat = input.issuer !== undefined || input.jwksUri !== undefined;
  let rawIssuers: unknown[] = [];
  if (input.issuers !== undefined) {
    if (!Array.isArray(input.issuers)) problems.push(`issuers must be an array of { issuer, audience, jwksUri? }, got ${describeValue(input.issuers)}`);
    // A preset may return several issuers (Entra v1 and v2, one per tenant): flattened one level.
    else rawIssuers = input.issuers.flat();
    if (flat) problems.push('give either the flat issuer/jwksUri (one issuer) or issuers (several), not both');
    for (const name of ONE_ISSUER_ONLY) {
      if (input[name] !== undefined) problems.push(`${name} describes one issuer: with issuers, set it on each issuer that needs it`);
    }
  } else {
    // The one-issuer shorthand: what a preset returns for one issuer can be given as it is.
    rawIssuers = [{ issuer: input.issuer, jwksUri: input.jwksUri, audienceClaim: input.audienceClaim, requiredClaimValues: input.requiredClaimValues, allowedJwksHosts: input.allowedJwksHosts, grantClaims: input.grantClaims }];
  }
  const maxIssuers = numberOption(problems, 'maxIssuers', input.maxIssuers, JWKS_DEFAULTS.maxIssuers, COUNT);
  if (rawIssuers.length > maxIssuers) problems.push(`issuers holds ${rawIssuers.length} issuers, more than maxIssuers (${maxIssuers})`);
  const issuers: ResolvedIssuerOptions[] = [];
  const seen = new Set<string>();
  rawIssuers.forEach((raw, i) => {
    const where = input.issuers === undefined ? '' : `issuers[${i}].`;
    const resolved = resolveIssuer(problems, where, raw, shared, where !== '');
    if (resolved === null) return;
    if (seen.has(resolved.issuer)) problems.push(`${where}issuer ${describeValue(resolved.issuer)} is configured twice`);
    seen.add(resolved.issuer);
    issuers.push(resolved);
  });
  problems.push(...sharedProblems);
  const { audience, algorithms, clockToleranceSec, maxTokenAgeSec, requiredClaims } = shared;

  for (const group of ['cache', 'fetch'] as const) {
    const value = input[group];
    if (value === undefined) continue;
    if (!isPlainObject(value)) problems.push(`${group} must be an object, got ${describeValue(value)}`);
    else checkKeys(problems, `${group}.`, value);
  }
  const c: Record<string, unknown> = isPlainObject(input.cache) ? input.cache : {};
  const f: Record<string, unknown> = isPlainObject(input.fetch) ? input.fetch : {};

  const ttlMs = numberOption(problems, 'cache.ttlMs', c.ttlMs, JWKS_DEFAULTS.ttlMs, MS);
  // Defaults that make no sense above the TTL follow it down; a value the user set is checked instead.
  const halfTtl = Math.max(1, Math.floor(ttlMs / 2));
  const cooldownMs = numberOption(problems, 'cache.cooldownMs', c.cooldownMs, Math.min(JWKS_DEFAULTS.cooldownMs, halfTtl), MS0);
  const backoffBaseMs = numberOption(problems, 'cache.backoffBaseMs', c.backoffBaseMs, JWKS_DEFAULTS.backoffBaseMs, MS);
  const cache = {
    ttlMs,
    cooldownMs,
    maxStaleMs: numberOption(problems, 'cache.maxStaleMs', c.maxStaleMs, JWKS_DEFAULTS.maxStaleMs, MS0),
    refreshAheadMs: numberOption(problems, 'cache.refreshAheadMs', c.refreshAheadMs, Math.min(JWKS_DEFAULTS.refreshAheadMs, halfTtl), MS0),
    minTtlMs: numberOption(problems, 'cache.minTtlMs', c.minTtlMs, Math.min(JWKS_DEFAULTS.minTtlMs, ttlMs), MS),
    maxTtlMs: numberOption(problems, 'cache.maxTtlMs', c.maxTtlMs, Math.max(JWKS_DEFAULTS.maxTtlMs, ttlMs), MS),
    backoffBaseMs,
    // While a set is held, the backoff never outlasts the cooldown: a new key after an outage waits at most that.
    backoffMaxMs: numberOption(problems, 'cache.backoffMaxMs', c.backoffMaxMs, Math.max(backoffBaseMs, Math.min(JWKS_DEFAULTS.backoffMaxMs, cooldownMs)), MS),
    maxRetryAfterMs: numberOption(problems, 'cache.maxRetryAfterMs', c.maxRetryAfterMs, JWKS_DEFAULTS.maxRetryAfterMs, MS0),
    maxWaiters: numberOption(problems, 'cache.maxWaiters', c.maxWaiters, JWKS_DEFAULTS.maxWaiters, COUNT),
    maxWaitMs: numberOption(problems, 'cache.maxWaitMs', c.maxWaitMs, JWKS_DEFAULTS.maxWaitMs, TIMER_MS),
    snapshotPath: null as string | null,
  };
  if (c.cooldownMs !== undefined || c.ttlMs !== undefined) ordered(problems, ['cache.cooldownMs', cache.cooldownMs], ['cache.ttlMs', ttlMs], true);
  if (c.refreshAheadMs !== undefined || c.ttlMs !== undefined) ordered(problems, ['cache.refreshAheadMs', cache.refreshAheadMs], ['cache.ttlMs', ttlMs], true);
  ordered(problems, ['cache.minTtlMs', cache.minTtlMs], ['cache.maxTtlMs', cache.maxTtlMs], false);
  ordered(problems, ['cache.backoffBaseMs', cache.backoffBaseMs], ['cache.backoffMaxMs', cache.backoffMaxMs], false);
  if (c.snapshotPath !== undefined) {
    if (typeof c.snapshotPath !== 'string' || c.snapshotPath === '') problems.push(`cache.snapshotPath must be a non-empty file path, got ${describeValue(c.snapshotPath)}`);
    else cache.snapshotPath = c.snapshotPath;
  }
  const fetch = {
    timeoutMs: numberOption(problems, 'fetch.timeoutMs', f.timeoutMs, JWKS_DEFAULTS.fetchTimeoutMs, TIMER_MS),
    maxResponseBytes: numberOption(problems, 'fetch.maxResponseBytes', f.maxResponseBytes, JWKS_DEFAULTS.maxResponseBytes, COUNT),
    maxKeys: numberOption(problems, 'fetch.maxKeys', f.maxKeys, JWKS_DEFAULTS.maxKeys, COUNT),
  };

  let verifiedTokenCache: { maxEntries: number; ttlMs: number; maxBytes: number; maxEntryBytes: number } | null = null;
  const vtc = input.verifiedTokenCache;
  if (vtc === true || isPlainObject(vtc)) {
    const o: Record<string, unknown> = isPlainObject(vtc) ? vtc : {};
    if (isPlainObject(vtc)) checkKeys(problems, 'verifiedTokenCache.', vtc);
    verifiedTokenCache = {
      maxEntries: numberOption(problems, 'verifiedTokenCache.maxEntries', o.maxEntries, JWKS_DEFAULTS.verifiedTokenCacheMaxEntries, COUNT),
      ttlMs: numberOption(problems, 'verifiedTokenCache.ttlMs', o.ttlMs, JWKS_DEFAULTS.verifiedTokenCacheTtlMs, MS),
      maxBytes: numberOption(problems, 'verifiedTokenCache.maxBytes', o.maxBytes, JWKS_DEFAULTS.verifiedTokenCacheMaxBytes, COUNT),
      maxEntryBytes: numberOption(problems, 'verifiedTokenCache.maxEntryBytes', o.maxEntryBytes, JWKS_DEFAULTS.verifiedTokenCacheMaxEntryBytes, COUNT),
    };
    ordered(problems, ['verifiedTokenCache.maxEntryBytes', verifiedTokenCache.maxEntryBytes], ['verifiedTokenCache.maxBytes', verifiedTokenCache.maxBytes], false);
  } else if (vtc !== undefined && vtc !== false) {
    problems.push(`verifiedTokenCache must be a boolean or { maxEntries, ttlMs, maxBytes, maxEntryBytes }, got ${describeValue(vtc)}`);
  }
  for (const flag of ['globalGuard', 'failOnWarmupError', 'isGlobal'] as const) {
    const value = (input as Record<string, unknown>)[flag];
    if (value !== undefined && typeof value !== 'boolean') problems.push(`${flag} must be a boolean, got ${describeValue(value)}`);
  }
  const warmupTimeoutMs = numberOption(problems, 'warmupTimeoutMs', input.warmupTimeoutMs, JWKS_DEFAULTS.warmupTimeoutMs, TIMER_MS);
  const unavailableStatus = input.unavailableStatus ?? JWKS_DEFAULTS.unavailableStatus;
  if (unavailableStatus !== 401 && unavailableStatus !== 503) {
    problems.push(`unavailableStatus must be 401 or 503, got ${describeValue(unavailableStatus)}`);
  }

  const strategyName = input.strategyName ?? JWKS_STRATEGY_NAME;
  if (typeof strategyName !== 'string' || !STRATEGY_NAME.test(strategyName)) {
    problems.push(`strategyName must be a short name of letters, digits and . _ : -, got ${describeValue(strategyName)}`);
  }
  const aliasesInput = input.passportAliases ?? [];
  let passportAliases: readonly string[] = [];
  if (!Array.isArray(aliasesInput) || aliasesInput.length > MAX_PASSPORT_ALIASES) {
    problems.push(`passportAliases must be an array of at most ${MAX_PASSPORT_ALIASES} Passport names (e.g. ['jwt']), got ${describeValue(aliasesInput)}`);
  } else {
    for (let i = 0; i < aliasesInput.length; i++) {
      const alias: unknown = aliasesInput[i];
      if (typeof alias !== 'string' || !STRATEGY_NAME.test(alias)) problems.push(`passportAliases[${i}] must be a short name of letters, digits and . _ : -, got ${describeValue(alias)}`);
      else if (alias === strategyName) problems.push(`passportAliases[${i}] is the strategyName ${JSON.stringify(alias)} itself`);
      else if (aliasesInput.indexOf(alias) !== i) problems.push(`passportAliases[${i}] repeats ${JSON.stringify(alias)}`);
    }
    passportAliases = Object.freeze([...(aliasesInput as string[])]);
  }

  const token = tokenOption(problems, input.token);
  const subscriptions = subscriptionsOption(problems, input.subscriptions);
  const microservice = resolveMicroserviceOptions(problems, input.microservice);
  const websocket = websocketOption(problems, input.websocket);
  const fleet = fleetOption(problems, input.fleet, cache.snapshotPath);
  const webhook = webhookOption(problems, input.webhook, issuers.map((i) => i.issuer));
  const metrics = metricsOption(problems, input.metrics);
  let mapUser: JwksUserMapper | null = null;
  if (input.mapUser !== undefined) {
    if (typeof input.mapUser !== 'function') problems.push(`mapUser must be a function (claims, context) => user, got ${describeValue(input.mapUser)}`);
    else mapUser = input.mapUser;
  }
  let userProperty: string | null = null;
  if (input.userProperty !== undefined) {
    if (!isUsableUserProperty(input.userProperty)) problems.push(`userProperty must be ${USER_PROPERTY_RULE}, got ${describeValue(input.userProperty)}`);
    else userProperty = input.userProperty;
  }

  if (problems.length > 0) throw new JwksOptionsError(problems);
  return Object.freeze({
    issuers: Object.freeze(issuers),
    maxIssuers,
    audience,
    algorithms,
    clockToleranceSec,
    maxTokenAgeSec,
    requiredClaims,
    typ: shared.typ,
    cache: Object.freeze(cache),
    fetch: Object.freeze(fetch),
    verifiedTokenCache: verifiedTokenCache && Object.freeze(verifiedTokenCache),
    globalGuard: input.globalGuard ?? false,
    failOnWarmupError: input.failOnWarmupError ?? false,
    warmupTimeoutMs,
    unavailableStatus,
    strategyName,
    passportAliases,
    maxTokenBytes: JWKS_DEFAULTS.maxTokenBytes,
    token,
    subscriptions,
    microservice,
    websocket,
    mapUser,
    userProperty,
    fleet,
    webhook,
    metrics,
  });
}

/** RFC 9110 §5.1 field names and RFC 6265 cookie names are both RFC 9110 tokens. */
const TOKEN_CHARS = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** A query parameter name as it appears in the URL: no separator, no `=`, no `#`, no space. */
const QUERY_NAME = /^[^&=#?\s%]+$/;
const TOKEN_SHAPE = `{ from: 'header', name?, scheme? }, { from: 'cookie', name }, { from: 'query', name } or a function (request) => string | null`;

/** The `token` option: null for the default (the Authorization header's bearer token). */
function tokenOption(problems: string[], value: unknown): ResolvedTokenSource | null {
  if (value === undefined) return null;
  if (typeof value === 'function') {
    const extract = syncExtractor(problems, 'token', value as (request: unknown) => string | null);
    return extract === null ? null : Object.freeze({ from: 'function', extract });
  }
  if (!isPlainObject(value)) {
    problems.push(`token must be ${TOKEN_SHAPE}, got ${describeValue(value)}`);
    return null;
  }
  const before = problems.length;
  checkKeys(problems, 'token.', value);
  const { from, name, scheme } = value;
  if (from !== 'header' && from !== 'cookie' && from !== 'query') {
    problems.push(`token.from must be "header", "cookie" or "query", got ${describeValue(from)}`);
    return null;
  }
  const max = JWKS_DEFAULTS.maxTokenSourceNameChars;
  if (from === 'header') {
    if (name !== undefined && !(typeof name === 'string' && name.length <= max && TOKEN_CHARS.test(name))) {
      problems.push(`token.name must be a header name such as "x-api-token" (letters, digits and !#$%&'*+.^_\`|~-, at most ${max}), got ${describeValue(name)}`);
    }
    if (scheme !== undefined && scheme !== 'Bearer' && scheme !== null) {
      problems.push(`token.scheme must be "Bearer" (read "Bearer <token>") or null (the whole header value), got ${describeValue(scheme)}`);
    }
    if (problems.length > before) return null;
    const header = ((name as string | undefined) ?? 'authorization').toLowerCase();
    const resolvedScheme = scheme === undefined ? (header === 'authorization' ? 'Bearer' : null) : (scheme as 'Bearer' | null);
    // The default, spelt out: the default reader, with its fast path and repeated-header refusal.
    if (header === 'authorization' && resolvedScheme === 'Bearer') return null;
    return Object.freeze({ from, name: header, scheme: resolvedScheme });
  }
  if (scheme !== undefined) problems.push(`token.scheme applies to { from: 'header' } only, not to { from: '${from}' }`);
  const ok = typeof name === 'string' && name.length <= max && (from === 'cookie' ? TOKEN_CHARS.test(name) : QUERY_NAME.test(name));
  if (!ok) {
    const what = from === 'cookie' ? `a cookie name such as "access_token" (letters, digits and !#$%&'*+.^_\`|~-, at most ${max})` : `a query parameter name such as "access_token" (no & = # ? % or space, at most ${max})`;
    problems.push(`token.name is required for { from: '${from}' }: ${what}, got ${describeValue(name)}`);
  }
  if (problems.length > before) return null;
  return Object.freeze({ from, name: name as string });
}

/** Top-level options of the one-issuer shorthand that are no shared default of several issuers. */
const ONE_ISSUER_ONLY = ['audienceClaim', 'requiredClaimValues', 'allowedJwksHosts', 'grantClaims'] as const;

/** The options every issuer inherits unless it sets its own. */
interface SharedIssuerDefaults {
  audience: readonly string[];
  algorithms: readonly string[];
  clockToleranceSec: number;
  maxTokenAgeSec: number | null;
  requiredClaims: readonly string[];
  typ: string | null;
}

function resolveShared(problems: string[], input: JwksAuthModuleOptions): SharedIssuerDefaults {
  return {
    // The flat one-issuer form requires it; with `issuers`, it is the default of those without one.
    audience: input.audience === undefined && input.issuers !== undefined ? Object.freeze([]) : (audienceOption(problems, 'audience', input.audience) ?? Object.freeze([])),
    algorithms: algorithmsOption(problems, 'algorithms', input.algorithms ?? [...JWKS_DEFAULTS.algorithms]) ?? JWKS_DEFAULTS.algorithms,
    clockToleranceSec: clockToleranceOption(problems, 'clockToleranceSec', input.clockToleranceSec, JWKS_DEFAULTS.clockToleranceSec),
    maxTokenAgeSec: input.maxTokenAgeSec === undefined ? null : numberOption(problems, 'maxTokenAgeSec', input.maxTokenAgeSec, 0, { unit: 'seconds' }),
    requiredClaims: requiredClaimsOption(problems, 'requiredClaims', input.requiredClaims ?? []) ?? Object.freeze([]),
    typ: typOption(problems, 'typ', input.typ),
  };
}

function audienceOption(problems: string[], name: string, value: unknown): readonly string[] | null {
  const audience = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(audience) || audience.length === 0 || !everyIndex(audience, (a) => typeof a === 'string' && a !== '')) {
    problems.push(`${name} is required: a non-empty string or array of non-empty strings, got ${describeValue(value)}`);
    return null;
  }
  return Object.freeze([...(audience as string[])]);
}

function algorithmsOption(problems: string[], name: string, algorithms: unknown): readonly string[] | null {
  if (!Array.isArray(algorithms) || algorithms.length === 0) {
    problems.push(`${name} must be a non-empty array of: ${SUPPORTED_ALGORITHMS.join(', ')}, got ${describeValue(algorithms)}`);
    return null;
  }
  const before = problems.length;
  // Named by option (`issuers[2].algorithms: ...`): with several issuers, the message must say whose list it is.
  for (const alg of algorithms) {
    if (typeof alg === 'string' && /^(HS\d+|none)$/i.test(alg)) {
      problems.push(`${name}: algorithm "${alg}" is refused: symmetric and unsigned tokens cannot be verified with a public key set`);
    } else if (!(SUPPORTED_ALGORITHMS as readonly unknown[]).includes(alg)) {
      problems.push(`${name}: algorithm ${describeValue(alg)} is not supported; use ${SUPPORTED_ALGORITHMS.join(', ')}`);
    }
  }
  return problems.length === before ? Object.freeze([...(algorithms as string[])]) : null;
}

function clockToleranceOption(problems: string[], name: string, value: unknown, fallback: number): number {
  return numberOption(problems, name, value, fallback, {
    zero: true,
    unit: 'seconds',
    // A larger tolerance all but switches `exp` off; it is usually milliseconds given as seconds.
    max: { value: JWKS_DEFAULTS.maxClockToleranceSec, why: 'seconds, not milliseconds; more would all but disable exp' },
  });
}

function requiredClaimsOption(problems: string[], name: string, value: unknown): readonly string[] | null {
  if (!Array.isArray(value) || !everyIndex(value, (c) => typeof c === 'string' && c !== '')) {
    problems.push(`${name} must be an array of claim names, got ${describeValue(value)}`);
    return null;
  }
  return Object.freeze([...(value as string[])]);
}

function typOption(problems: string[], name: string, value: unknown): string | null {
  if (value === undefined) return null;
  if (typeof value !== 'string' || value === '') {
    problems.push(`${name} must be a non-empty string such as "at+jwt", got ${describeValue(value)}`);
    return null;
  }
  return value;
}

/** A port, when given, must be a real one (1–65535). */
function portOk(host: string): boolean {
  const port = /:(\d+)$/.exec(host)?.[1];
  return port === undefined || (Number(port) >= 1 && Number(port) <= 65535);
}

const HOST = /^[a-z0-9.-]+(:\d{1,5})?$|^\[[0-9a-f:.]+\](:\d{1,5})?$/i;

/**
 * One issuer's options (`where` prefixes the messages, e.g. `issuers[2].`), or null after a problem.
 * `entry`: an `issuers[]` entry or an `addIssuer()` argument, not the flat one-issuer form.
 */
function resolveIssuer(problems: string[], where: string, raw: unknown, shared: SharedIssuerDefaults, entry: boolean): ResolvedIssuerOptions | null {
  if (!isPlainObject(raw)) {
    // `where` ends with the dot that joins it to an option name; `addIssuer()` has no `where`.
    problems.push(`${where === '' ? 'the issuer options' : where.slice(0, -1)} must be an object such as { issuer, audience }, got ${describeValue(raw)}`);
    return null;
  }
  const before = problems.length;
  const o = raw as Partial<Record<keyof JwksIssuerOptions, unknown>>;
  if (entry) checkKeys(problems, 'issuers[].', raw, where);
  if (typeof o.issuer !== 'string' || o.issuer.trim() === '') {
    problems.push(`${where}issuer${entry ? '' : ' (or issuers, for several)'} is required: the exact "iss" of your tokens, e.g. "https://tenant.auth0.com/", got ${describeValue(o.issuer)}`);
  } else if (o.issuer.trim() !== o.issuer) {
    problems.push(`${where}issuer has leading or trailing whitespace, so no token's "iss" can ever equal it, got ${describeValue(o.issuer)}`);
  } else if (o.jwksUri === undefined) {
    // Discovery reads {issuer}/.well-known/...: the issuer must then be a URL we may fetch.
    checkUrl(problems, `${where}issuer (no jwksUri given, so it is used for OIDC discovery)`, o.issuer);
  }
  if (o.jwksUri !== undefined) checkUrl(problems, `${where}jwksUri`, o.jwksUri);
  let audience = shared.audience;
  if (o.audience !== undefined) audience = audienceOption(problems, `${where}audience`, o.audience) ?? audience;
  // (The flat one-issuer form reports a missing audience as the module's own option. `addIssuer()`,
  // also without `where`, must report it here: else an issuer without audience refused every token.)
  else if (audience.length === 0 && entry) problems.push(`${where}audience is required (here or as the module's shared audience): a non-empty string or array of non-empty strings`);
  const audienceClaim = o.audienceClaim ?? 'aud';
  if (audienceClaim !== 'aud' && audienceClaim !== 'client_id') problems.push(`${where}audienceClaim must be "aud" or "client_id", got ${describeValue(audienceClaim)}`);
  const requiredClaimValues: Record<string, string> = {};
  if (o.requiredClaimValues !== undefined) {
    if (!isPlainObject(o.requiredClaimValues)) problems.push(`${where}requiredClaimValues must be an object of claim names to string values, got ${describeValue(o.requiredClaimValues)}`);
    else {
      for (const [claim, value] of Object.entries(o.requiredClaimValues)) {
        // A `__proto__` key (own, as JSON.parse makes it) is refused for the name, whatever its value.
        if (claim === '' || claim === '__proto__') problems.push(`${where}requiredClaimValues: ${describeValue(claim)} cannot be a required claim name`);
        else if (typeof value !== 'string') problems.push(`${where}requiredClaimValues.${claim} must be a string, got ${describeValue(value)}`);
        else Object.defineProperty(requiredClaimValues, claim, { value, enumerable: true });
      }
    }
  }
  const algorithms = o.algorithms === undefined ? shared.algorithms : algorithmsOption(problems, `${where}algorithms`, o.algorithms);
  const clockToleranceSec = o.clockToleranceSec === undefined ? shared.clockToleranceSec : clockToleranceOption(problems, `${where}clockToleranceSec`, o.clockToleranceSec, 0);
  const maxTokenAgeSec = o.maxTokenAgeSec === undefined ? shared.maxTokenAgeSec : numberOption(problems, `${where}maxTokenAgeSec`, o.maxTokenAgeSec, 0, { unit: 'seconds' });
  const requiredClaims = o.requiredClaims === undefined ? shared.requiredClaims : requiredClaimsOption(problems, `${where}requiredClaims`, o.requiredClaims);
  const typ = o.typ === undefined ? shared.typ : typOption(problems, `${where}typ`, o.typ);
  const hosts = o.allowedJwksHosts ?? [];
  if (!Array.isArray(hosts)) {
    problems.push(`${where}allowedJwksHosts must be an array of host names (with :port unless it is the scheme's default), got ${describeValue(o.allowedJwksHosts)}`);
  } else {
    for (let i = 0; i < hosts.length; i++) {
      if (!(typeof hosts[i] === 'string' && HOST.test(hosts[i]) && portOk(hosts[i]))) {
        problems.push(`${where}allowedJwksHosts[${i}] must be a host name such as "keys.example.com" or "127.0.0.1:8443" (no scheme, path or wildcard), got ${describeValue(hosts[i])}`);
      }
    }
  }
  const grantClaims = grantClaimsOption(problems, where, o.grantClaims);
  if (problems.length > before) return null;
  return Object.freeze({
    issuer: o.issuer as string,
    jwksUri: (o.jwksUri as string | undefined) ?? null,
    audience,
    audienceClaim: audienceClaim as 'aud' | 'client_id',
    requiredClaimValues: Object.freeze(requiredClaimValues),
    algorithms: algorithms as readonly string[],
    clockToleranceSec,
    maxTokenAgeSec,
    requiredClaims: requiredClaims as readonly string[],
    typ,
    allowedJwksHosts: Object.freeze((hosts as string[]).map((h) => h.toLowerCase())),
    grantClaims,
  });
}

const GRANT_KINDS = ['scopes', 'permissions', 'roles'] as const;

/** One segment of a claim path: a non-empty name that is not a prototype member. */
function claimSegmentOk(segment: unknown): segment is string {
  return typeof segment === 'string' && segment !== '' && !FORBIDDEN_CLAIM_SEGMENTS.has(segment);
}

/**
 * `grantClaims`: each kind a claim name, a list of claim names and paths, or a function; kinds
 * left out keep `JWKS_DEFAULT_GRANT_CLAIMS`. Paths are frozen segment lists, so the reader never
 * parses anything per request.
 */
function grantClaimsOption(problems: string[], where: string, value: unknown): ResolvedGrantClaims {
  if (value === undefined) return JWKS_DEFAULT_GRANT_CLAIMS;
  const name = `${where}grantClaims`;
  if (!isPlainObject(value)) {
    problems.push(`${name} must be an object such as { scopes: 'scp', roles: [['realm_access', 'roles']] }, got ${describeValue(value)}`);
    return JWKS_DEFAULT_GRANT_CLAIMS;
  }
  checkKeys(problems, 'grantClaims.', value, `${name}.`);
  const resolved: Record<(typeof GRANT_KINDS)[number], ResolvedGrantSource> = { ...JWKS_DEFAULT_GRANT_CLAIMS };
  for (const kind of GRANT_KINDS) {
    if (!Object.prototype.hasOwnProperty.call(value, kind) || value[kind] === undefined) continue;
    const source = value[kind];
    const shown = `${name}.${kind}`;
    if (typeof source === 'function') {
      resolved[kind] = source as ResolvedGrantSource;
    } else if (typeof source === 'string') {
      if (claimSegmentOk(source)) resolved[kind] = Object.freeze([Object.freeze([source])]);
      else problems.push(`${shown} must be a claim name (not empty, not a prototype member such as "__proto__"), got ${describeValue(source)}`);
    } else if (Array.isArray(source)) {
      const paths: (readonly string[])[] = [];
      for (let i = 0; i < source.length; i++) {
        const path: unknown = source[i];
        if (claimSegmentOk(path)) paths.push(Object.freeze([path]));
        else if (Array.isArray(path) && path.length > 0 && everyIndex(path, claimSegmentOk)) paths.push(Object.freeze([...(path as string[])]));
        else {
          problems.push(
            `${shown}[${i}] must be a claim name ("scp") or a path of claim names (["realm_access", "roles"]), none empty or a prototype member such as "__proto__", got ${describeValue(path)}`,
          );
        }
      }
      resolved[kind] = Object.freeze(paths);
    } else {
      problems.push(`${shown} must be a claim name, an array of claim names and paths, or a function returning string[], got ${describeValue(source)}`);
    }
  }
  return Object.freeze(resolved);
}

/**
 * Validates one issuer added at runtime (`addIssuer()`), with the module's shared options as its
 * defaults, exactly as `issuers[]` entries are at startup.
 * @throws JwksOptionsError
 */
export function resolveIssuerOptions(input: JwksIssuerOptions, module: ResolvedJwksOptions): ResolvedIssuerOptions {
  const problems: string[] = [];
  let resolved: ResolvedIssuerOptions | null = null;
  try {
    resolved = resolveIssuer(problems, '', input, module, true);
  } catch (err) {
    throw new JwksOptionsError([`issuer options could not be read (${(err as Error)?.name ?? 'error'} while reading them)`]);
  }
  if (problems.length > 0 || resolved === null) throw new JwksOptionsError(problems);
  return resolved;
}
