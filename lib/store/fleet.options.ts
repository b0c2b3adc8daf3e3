import { REDIS_STORE_DEFAULTS } from '../jwks-auth.constants.js';
import { describeValue, isPlainObject, unknownKeys } from '../options/option.checks.js';
import { isFleetStore, type FleetKeySetStore, type KeySetStore } from './key-set.store.js';
import type { RedisClientLike } from './redis-key-set.store.js';

/**
 * Fleet mode (`fleet`): the processes of one API share each issuer's key set through Redis, so the
 * fleet makes one upstream fetch per refresh, per cooldown and per `Retry-After`, and an operator's
 * `invalidate()`, `refresh()`, `revokeKey()` or `restoreKey()` on one process reaches all of them.
 * - `{ redis, keyPrefix? }`: Redis as a URL (`redis://…`, `rediss://…`), ioredis options (Sentinel
 *   included) or an ioredis client (`new Redis(…)`, `new Cluster(…)`, which stays yours to close).
 *   `ioredis` is an optional peer: install it. `keyPrefix` (default `jwks-auth:`) separates
 *   deployments sharing one Redis.
 * - `{ store }`: any store implementing the store port with `lease`, `update` and `watch`.
 */
export type JwksFleetOptions =
  | {
      redis: string | Record<string, unknown> | RedisClientLike;
      keyPrefix?: string;
    }
  | { store: KeySetStore };

/** The `fleet` option after validation. */
export type ResolvedFleetOptions =
  | { readonly kind: 'redis'; readonly redis: string | Record<string, unknown> | RedisClientLike; readonly keyPrefix: string }
  | { readonly kind: 'store'; readonly store: FleetKeySetStore };

const KNOWN = ['redis', 'keyPrefix', 'store'] as const;
/** Printable ASCII without spaces: a prefix shows in `redis-cli`, and must not split a command line there. */
const KEY_PREFIX = /^[\x21-\x7e]{0,100}$/;
const SHAPE = '{ redis: a redis:// URL, ioredis options or an ioredis client, keyPrefix? } or { store }';

function isRedisClient(value: unknown): value is RedisClientLike {
  return typeof value === 'object' && value !== null && typeof (value as Partial<RedisClientLike>).call === 'function' && typeof (value as Partial<RedisClientLike>).duplicate === 'function';
}

/** A URL as shown in an error: everything up to its last `@` masked (a password may hold `/`, `#` or `?`). */
export function maskedUrl(value: string): string {
  return describeValue(value.replace(/^([a-z]+:\/\/).*@/is, '$1***@'));
}

/** ioredis options are a plain object literal: a `URL`, `Map` or class instance spread into them is empty (127.0.0.1:6379). */
function isOptionsLiteral(value: unknown): boolean {
  if (!isPlainObject(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** The `fleet` option: null without one. Every mistake goes into `problems`. */
export function fleetOption(problems: string[], value: unknown, snapshotPath: string | null): ResolvedFleetOptions | null {
  if (value === undefined) return null;
  if (!isPlainObject(value)) {
    problems.push(`fleet must be ${SHAPE}, got ${typeof value === 'string' ? maskedUrl(value) : describeValue(value)}`);
    return null;
  }
  unknownKeys(problems, 'fleet.', value, KNOWN);
  // A fleet's Redis already keeps the set across restarts; two places to restore from would disagree.
  if (snapshotPath !== null) problems.push('cache.snapshotPath and fleet both keep the key set beyond this process: use one (fleet mode restores from Redis)');
  const { redis, store, keyPrefix } = value;
  if (store !== undefined) {
    if (redis !== undefined || keyPrefix !== undefined) problems.push('fleet takes either store or redis (with keyPrefix), not both');
    if (typeof store !== 'object' || store === null || !isFleetStore(store as KeySetStore) || typeof (store as KeySetStore).load !== 'function') {
      problems.push(`fleet.store must be a key-set store with load, save, watch, lease and update (a store shared by processes), got ${describeValue(store)}; a per-process store is provided under JWKS_STORE instead`);
      return null;
    }
    return Object.freeze({ kind: 'store', store: store as FleetKeySetStore });
  }
  const target = redisTargetOption(problems, value, `fleet needs redis or store: ${SHAPE}`);
  return target === null ? null : Object.freeze({ kind: 'redis', ...target });
}

/**
 * `redis` and `keyPrefix` of a `fleet` option (the key sets' here, the client-credentials
 * module's too): a redis:// URL, ioredis options or an ioredis client, and a printable prefix.
 * Null (with the reasons in `problems`, `whenMissing` when there is no `redis`) when they are not
 * usable; messages never show a password.
 */
export function redisTargetOption(problems: string[], value: Record<string, unknown>, whenMissing: string): { redis: string | Record<string, unknown> | RedisClientLike; keyPrefix: string } | null {
  const { redis, keyPrefix } = value;
  let prefix: string = REDIS_STORE_DEFAULTS.keyPrefix;
  if (keyPrefix !== undefined) {
    if (typeof keyPrefix !== 'string' || !KEY_PREFIX.test(keyPrefix)) problems.push(`fleet.keyPrefix must be at most 100 printable characters without spaces, got ${describeValue(keyPrefix)}`);
    else prefix = keyPrefix;
  }
  if (redis === undefined) {
    problems.push(whenMissing);
    return null;
  }
  if (typeof redis === 'string') {
    if (!/^rediss?:\/\/[^\s]+$/i.test(redis) || !URL.canParse(redis)) {
      problems.push(`fleet.redis must be a redis:// or rediss:// URL, got ${maskedUrl(redis)}`);
      return null;
    }
  } else if (!isRedisClient(redis) && !isOptionsLiteral(redis)) {
    problems.push(`fleet.redis must be a redis:// URL, ioredis options or an ioredis client, got ${describeValue(redis)}`);
    return null;
  }
  return { redis: redis as string | Record<string, unknown> | RedisClientLike, keyPrefix: prefix };
}
