import type { ResolvedJwksOptions } from '../interfaces/jwks-auth-options.interface.js';
import type { KeySetLog } from '../cache/key-set.source.js';
import type { KeySetStore } from './key-set.store.js';
import { MemoryKeySetStore } from './memory-key-set.store.js';
import { SnapshotFileKeySetStore } from './snapshot-file-key-set.store.js';
import { RedisKeySetStore } from './redis-key-set.store.js';

/** The store the options ask for: the fleet's when `fleet` is set, snapshot files when `cache.snapshotPath` is, else memory. */
export function defaultKeySetStore(options: ResolvedJwksOptions, log: KeySetLog): KeySetStore {
  const fleet = options.fleet ?? null;
  if (fleet?.kind === 'store') return fleet.store;
  // Closed with the app: Nest calls the store's onApplicationShutdown (a client passed in stays open).
  if (fleet?.kind === 'redis') return new RedisKeySetStore({ redis: fleet.redis, keyPrefix: fleet.keyPrefix, log, maxKeys: options.fetch.maxKeys });
  const path = options.cache.snapshotPath;
  if (path === null) return new MemoryKeySetStore();
  // Twice the largest response: the file also holds the URI, dates and ETag around the set.
  return new SnapshotFileKeySetStore({ path, firstIssuer: options.issuers[0]?.issuer ?? null, maxBytes: options.fetch.maxResponseBytes * 2, log });
}
