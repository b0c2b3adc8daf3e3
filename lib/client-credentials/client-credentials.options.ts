import { KeyObject } from 'node:crypto';
import type { Clock } from '../cache/clock.js';
import { JwksOptionsError } from '../errors/jwks.errors.js';
import { CLIENT_CREDENTIALS_DEFAULTS, LOOPBACK_HOSTS } from '../jwks-auth.constants.js';
import { metricsOption, type JwksMetricsOptions, type ResolvedMetricsOptions } from '../metrics/metrics.options.js';
import { describeValue, isPlainObject, unknownKeys } from '../options/option.checks.js';
import {
  algorithmFits,
  defaultAlgorithm,
  privateKeyJwtAuthenticator,
  privateKeyObject,
  secretAuthenticator,
  type AssertionAlgorithm,
  type ClientAuthenticationMethod,
  type PrivateKeyInput,
} from './client.authentication.js';
import type { ClientCredentialsEventListener } from './client-credentials.events.js';
import type { ResolvedClientCredentialsOptions } from './client-credentials.service.js';
import { normaliseScope } from './client-credentials.service.js';
import type { ClientTokenStore } from './client-token.store.js';
import { maskedUrl, redisTargetOption } from '../store/fleet.options.js';
import type { RedisClientLike } from '../store/redis.connection.js';
import { encryptionKeyBytes } from './encrypted-token.store.js';
import { DEFAULT_TOKEN_POLICY } from './token.policy.js';

/** Options of `ClientCredentialsModule.forRoot()`. */
export interface ClientCredentialsOptions {
  /** The OAuth token endpoint (`https://YOUR_TENANT.auth0.com/oauth/token`). Or `issuer`. */
  tokenEndpoint?: string;
  /** The issuer whose discovery document's `token_endpoint` is used (read once, at the first request). Or `tokenEndpoint`. */
  issuer?: string;
  clientId: string;
  /** For `client_secret_post` (the default with a secret) and `client_secret_basic`. Or `privateKey`. */
  clientSecret?: string;
  /** For `private_key_jwt`: a PEM string, a private `KeyObject` or a private JWK. Or `clientSecret`. */
  privateKey?: PrivateKeyInput;
  /** `kid` of the assertion's header (the key's id as registered at the IdP). */
  privateKeyId?: string;
  /** The assertion's algorithm; by default from the key (RS256, the curve's ES*, EdDSA). */
  signingAlgorithm?: AssertionAlgorithm;
  /** `aud` of the assertion; the token endpoint by default. */
  assertionAudience?: string;
  clientAuthentication?: ClientAuthenticationMethod;
  /** The default `audience` of `getToken()` (Auth0: the API identifier). */
  audience?: string;
  /** The default `scope` of `getToken()`, space-separated. */
  scope?: string;
  /** A token is handed out while more than this is left of its life (at most half the lifetime). Default 5 min. */
  refreshMarginMs?: number;
  /** Timeout of each request to the token endpoint (and discovery). Default 5 s. */
  timeoutMs?: number;
  /** Most (audience, scope) pairs held. Default 100. */
  maxCacheEntries?: number;
  /** Where tokens are kept: this process's memory by default; a shared store for a fleet. */
  store?: ClientTokenStore;
  /**
   * Fleet mode: the processes of one service share each token and its throttle gate through Redis
   * (a `redis://` URL, ioredis options or an ioredis client; ioredis is an optional peer), so the
   * fleet asks the token endpoint once per refresh and one 429 holds every process back. Tokens
   * live in Redis only as long as they are valid; add `encryptionKey` to keep them encrypted there.
   */
  fleet?: { redis: string | Record<string, unknown> | RedisClientLike; keyPrefix?: string };
  /** Keeps tokens encrypted in the store (AES-256-GCM): 32 bytes, 64 hex or 44 base64 characters. */
  encryptionKey?: string | Uint8Array;
  /** Extra event listeners (each request, throttle, stale token served). */
  listeners?: ClientCredentialsEventListener[];
  /** Metrics, as the JWKS module's `metrics`: `true` (prom-client's default registry), `{ registry }`, `{ otel: true }` or both. */
  metrics?: JwksMetricsOptions;
  /** The clock (a `FakeClock` in tests). */
  clock?: Clock;
  /** Log lines through Nest's Logger (default true). */
  logging?: boolean;
}

const KNOWN = [
  'tokenEndpoint', 'issuer', 'clientId', 'clientSecret', 'privateKey', 'privateKeyId', 'signingAlgorithm', 'assertionAudience', 'clientAuthentication',
  'audience', 'scope', 'refreshMarginMs', 'timeoutMs', 'maxCacheEntries', 'store', 'fleet', 'encryptionKey', 'listeners', 'metrics', 'clock', 'logging',
] as const;
const METHODS: readonly ClientAuthenticationMethod[] = ['client_secret_post', 'client_secret_basic', 'private_key_jwt'];
const ALGORITHMS: readonly AssertionAlgorithm[] = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

/** The resolved options, and what the module needs besides the service's own. */
export interface ResolvedClientCredentialsModuleOptions {
  service: ResolvedClientCredentialsOptions;
  store?: ClientTokenStore;
  /** `fleet` after validation: where Redis is, and the key prefix. */
  fleet: { redis: string | Record<string, unknown> | RedisClientLike; keyPrefix: string } | null;
  encryptionKey?: string | Uint8Array;
  listeners: ClientCredentialsEventListener[];
  /** Where the metrics go (prom-client and/or OpenTelemetry); null without `metrics`. */
  metrics: ResolvedMetricsOptions | null;
  clock?: Clock;
  logging: boolean;
}

/**
 * Validates every option at startup, listing all problems at once (`JwksOptionsError`). Messages
 * name options and describe values, but never show a secret, a key or a key's parts.
 */
export function resolveClientCredentialsOptions(input: ClientCredentialsOptions): ResolvedClientCredentialsModuleOptions {
  const problems: string[] = [];
  if (!isPlainObject(input)) throw new JwksOptionsError(['ClientCredentialsModule options must be an object']);
  unknownKeys(problems, '', input, KNOWN);
  const o = input as ClientCredentialsOptions & Record<string, unknown>;

  if ((o.tokenEndpoint === undefined) === (o.issuer === undefined)) problems.push('set exactly one of tokenEndpoint and issuer');
  if (o.tokenEndpoint !== undefined) endpointUrl(problems, 'tokenEndpoint', o.tokenEndpoint);
  if (o.issuer !== undefined) endpointUrl(problems, 'issuer', o.issuer);
  if (typeof o.clientId !== 'string' || o.clientId === '' || o.clientId.length > 1024) problems.push(`clientId must be a non-empty string, got ${typeof o.clientId === 'string' ? 'an empty or too long string' : describeValue(o.clientId)}`);

  const hasSecret = o.clientSecret !== undefined;
  const hasKey = o.privateKey !== undefined;
  if (hasSecret === hasKey) problems.push('set exactly one of clientSecret and privateKey');
  // Never describeValue() a secret or a key: say only what kind of value it is.
  if (hasSecret && (typeof o.clientSecret !== 'string' || o.clientSecret === '')) problems.push(`clientSecret must be a non-empty string (got ${kindOf(o.clientSecret)})`);
  const method = o.clientAuthentication ?? (hasKey ? 'private_key_jwt' : 'client_secret_post');
  if (!METHODS.includes(method)) problems.push(`clientAuthentication must be one of ${METHODS.join(', ')}, got ${describeValue(o.clientAuthentication)}`);
  else if (method === 'private_key_jwt' && !hasKey) problems.push('clientAuthentication private_key_jwt needs privateKey');
  else if (method !== 'private_key_jwt' && hasKey) problems.push(`clientAuthentication ${method} needs clientSecret; privateKey is for private_key_jwt`);

  let key: KeyObject | undefined;
  if (hasKey) {
    const k = o.privateKey as unknown;
    if (typeof k !== 'string' && !(k instanceof KeyObject) && !isPlainObject(k)) problems.push(`privateKey must be a PEM string, a KeyObject or a private JWK (got ${kindOf(k)})`);
    else {
      try {
        key = privateKeyObject(k as PrivateKeyInput);
      } catch (err) {
        problems.push((err as Error).message);
      }
    }
  }
  let algorithm: AssertionAlgorithm | undefined;
  if (o.signingAlgorithm !== undefined && !ALGORITHMS.includes(o.signingAlgorithm)) problems.push(`signingAlgorithm must be one of ${ALGORITHMS.join(', ')}, got ${describeValue(o.signingAlgorithm)}`);
  else if (key) {
    algorithm = o.signingAlgorithm ?? defaultAlgorithm(key);
    if (algorithm === undefined) problems.push(`privateKey is a ${key.asymmetricKeyType} key; use an RSA, P-256/384/521 or Ed25519 key`);
    else if (!algorithmFits(algorithm, key)) problems.push(`signingAlgorithm ${algorithm} does not fit the ${key.asymmetricKeyType} privateKey`);
    else if (key.asymmetricKeyType === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) problems.push('privateKey: an RSA key must have at least 2048 bits');
    else {
      // One signature now: a key the runtime cannot use with this algorithm (an RSA-PSS key bound to
      // another hash) would otherwise fail every token request, 30 s apart, instead of startup.
      try {
        privateKeyJwtAuthenticator('startup-check', key, { algorithm }).parts('https://startup-check.invalid/', 0);
      } catch {
        problems.push(`privateKey cannot sign ${algorithm} (an RSA-PSS key restricted to another hash?); set signingAlgorithm to one the key allows`);
      }
    }
  }
  for (const name of ['privateKeyId', 'assertionAudience'] as const) {
    const v = o[name];
    if (v !== undefined && (typeof v !== 'string' || v === '' || v.length > 2048)) problems.push(`${name} must be a non-empty string, got ${describeValue(v)}`);
  }
  if ((o.privateKeyId !== undefined || o.signingAlgorithm !== undefined || o.assertionAudience !== undefined) && !hasKey) problems.push('privateKeyId, signingAlgorithm and assertionAudience are for privateKey (private_key_jwt)');

  if (o.audience !== undefined && (typeof o.audience !== 'string' || o.audience === '' || o.audience.length > CLIENT_CREDENTIALS_DEFAULTS.maxAudienceChars)) problems.push(`audience must be a non-empty string, got ${describeValue(o.audience)}`);
  if (o.scope !== undefined && (typeof o.scope !== 'string' || normaliseScope(o.scope) === undefined || !/^[\x20\x21\x23-\x5b\x5d-\x7e]*$/.test(o.scope))) problems.push(`scope must be space-separated scope tokens, got ${describeValue(o.scope)}`);

  const margin = int(problems, o, 'refreshMarginMs', 0, 60 * 60_000);
  const timeoutMs = int(problems, o, 'timeoutMs', 100, 60_000);
  const maxCacheEntries = int(problems, o, 'maxCacheEntries', 1, 100_000);

  if (o.store !== undefined && (!isPlainObject(o.store) && typeof o.store !== 'object') ) problems.push('store must be a ClientTokenStore');
  else if (o.store !== undefined && (typeof o.store?.read !== 'function' || typeof o.store?.write !== 'function')) problems.push('store must have read() and write() (a ClientTokenStore)');
  let fleet: ResolvedClientCredentialsModuleOptions['fleet'] = null;
  if (o.fleet !== undefined) {
    const shape = '{ redis: a redis:// URL, ioredis options or an ioredis client, keyPrefix? }';
    // A URL string here (fleet: process.env.REDIS_URL) may hold Redis's password: shown masked.
    if (!isPlainObject(o.fleet)) problems.push(`fleet must be ${shape}, got ${typeof o.fleet === 'string' ? maskedUrl(o.fleet) : describeValue(o.fleet)}`);
    else {
      unknownKeys(problems, 'fleet.', o.fleet, ['redis', 'keyPrefix']);
      if (o.store !== undefined) problems.push('store and fleet both say where tokens are kept: use one (fleet builds a Redis store)');
      fleet = redisTargetOption(problems, o.fleet, `fleet needs redis: ${shape}`);
    }
  }
  if (o.encryptionKey !== undefined) {
    try {
      encryptionKeyBytes(o.encryptionKey);
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  if (o.listeners !== undefined && (!Array.isArray(o.listeners) || !o.listeners.every((l) => typeof l === 'function'))) problems.push('listeners must be an array of functions');
  const metrics = metricsOption(problems, o.metrics);
  if (o.logging !== undefined && typeof o.logging !== 'boolean') problems.push(`logging must be a boolean, got ${describeValue(o.logging)}`);
  if (o.clock !== undefined && (typeof o.clock?.now !== 'function' || typeof o.clock?.setTimeout !== 'function')) problems.push('clock must be a Clock (now, setTimeout, clearTimeout)');

  if (problems.length > 0) throw new JwksOptionsError(problems, 'ClientCredentialsModule');

  const clientId = o.clientId;
  const authenticator =
    method === 'private_key_jwt'
      ? privateKeyJwtAuthenticator(clientId, key as KeyObject, { algorithm: algorithm as AssertionAlgorithm, keyId: o.privateKeyId, assertionAudience: o.assertionAudience })
      : secretAuthenticator(method, clientId, o.clientSecret as string);
  return {
    service: {
      tokenEndpoint: o.tokenEndpoint ?? null,
      issuer: o.issuer ?? null,
      clientId,
      authenticator,
      ...(o.audience === undefined ? {} : { audience: o.audience }),
      ...(o.scope === undefined ? {} : { scope: normaliseScope(o.scope) }),
      policy: { ...DEFAULT_TOKEN_POLICY, refreshMarginMs: margin ?? DEFAULT_TOKEN_POLICY.refreshMarginMs },
      timeoutMs: timeoutMs ?? CLIENT_CREDENTIALS_DEFAULTS.timeoutMs,
      maxCacheEntries: maxCacheEntries ?? CLIENT_CREDENTIALS_DEFAULTS.maxCacheEntries,
      // The secret as sent (form- or URI-encoded) too: an endpoint that echoes the request echoes it encoded.
      secrets: typeof o.clientSecret === 'string' ? [...new Set([o.clientSecret, encodeURIComponent(o.clientSecret), new URLSearchParams({ s: o.clientSecret }).toString().slice(2)])] : [],
    },
    store: o.store,
    fleet,
    encryptionKey: o.encryptionKey,
    listeners: [...(o.listeners ?? [])],
    metrics,
    clock: o.clock,
    logging: o.logging ?? true,
  };
}

/** What kind of value it is, without any of its content. */
function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return value === '' ? 'an empty string' : 'a string';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function int(problems: string[], o: Record<string, unknown>, name: string, min: number, max: number): number | undefined {
  const v = o[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    problems.push(`${name} must be an integer from ${min} to ${max}, got ${describeValue(v)}`);
    return undefined;
  }
  return v;
}

/** An https: URL (http: on loopback only) without credentials, query or fragment. */
function endpointUrl(problems: string[], name: string, value: unknown): void {
  if (typeof value !== 'string') {
    problems.push(`${name} must be a URL string, got ${describeValue(value)}`);
    return;
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    problems.push(`${name} is not a URL`);
    return;
  }
  if (url.username || url.password) problems.push(`${name} must not contain credentials`);
  else if (url.hash) problems.push(`${name} must not have a fragment`);
  else if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK_HOSTS.test(url.hostname))) {
    problems.push(`${name} must use https: (http: is allowed for localhost, 127.0.0.0/8 and [::1] only), got ${url.protocol}//${url.host}`);
  }
}
