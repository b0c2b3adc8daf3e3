import { CLIENT_CREDENTIALS_DEFAULTS } from '../jwks-auth.constants.js';
import type { ClientTokenGate, ClientTokenRecord } from './token.policy.js';

/**
 * What is kept per (token endpoint, client, audience, scope): the token, and the throttle gate
 * (no request before its `notBefore`), either of which may be absent. One value, so a fleet reads
 * and writes both at once.
 */
export interface ClientTokenEntry {
  token: ClientTokenRecord | null;
  gate: ClientTokenGate | null;
}

/** A lease held by one process so that only it asks the token endpoint (see `ClientTokenStore.lease`). */
export interface ClientTokenLease {
  /** Never rejects; a lease not released lapses at its ttl. */
  release(): Promise<void>;
}

/**
 * Where client-credentials tokens are kept: this process's memory by default
 * (`MemoryClientTokenStore`), a shared store (Redis) for a fleet. Keys are opaque strings the
 * service derives (a hash: no secret, no token, safe for Redis key names). The service keeps its
 * working copy in memory and reads the store only when its copy no longer serves (a refresh is
 * due): never on the path of a cached `getToken`.
 *
 * A Redis implementation maps directly: `write` is `SET key value PX ttlMs` then `PUBLISH` the
 * key (so `watch` fires elsewhere), `lease` is `SET lease:key <random> NX PX ttlMs` with a
 * compare-and-delete release, `read` is `GET`. Values are the JSON of `ClientTokenEntry`; wrap the
 * store in `EncryptedClientTokenStore` to keep tokens encrypted at rest.
 */
export interface ClientTokenStore {
  /** The stored entry, or null when none (or none usable: a store logs why itself, never the value). */
  read(key: string): Promise<ClientTokenEntry | null>;
  /**
   * Stores `entry` for `ttlMs` (the token's remaining life, or the gate's wait if longer); after
   * that the entry is gone. Rejections are logged by the service and never fatal.
   */
  write(key: string, entry: ClientTokenEntry, ttlMs: number): Promise<void>;
  /**
   * Fleet: takes the request lease for `ttlMs`, or null when another process holds it. Only the
   * holder asks the endpoint, then writes the outcome (token or gate) before releasing; the others
   * wait for that write (`watch`, or `read` every `waitPollMs`) and ask only if the holder's lease
   * lapses without a result. A rejection means "cannot coordinate now": the caller asks on its
   * own. Never null for an error. Optional: without it, every process asks for itself.
   */
  lease?(key: string, ttlMs: number): Promise<ClientTokenLease | null>;
  /** Fleet: entries written by another process, as they are written. Returns the unsubscribe function. */
  watch?(key: string, onChange: (entry: ClientTokenEntry) => void): () => void;
  /** Called at shutdown: a store that opened connections closes them. */
  close?(): Promise<void> | void;
}

/**
 * The default store: entries in this process's memory, each dropped at its ttl. Also what tests
 * use as a "shared" store: several services given one instance behave as a fleet sharing Redis
 * (it has `lease` and `watch`).
 */
export class MemoryClientTokenStore implements ClientTokenStore {
  private readonly entries = new Map<string, { entry: ClientTokenEntry; until: number }>();
  private readonly leases = new Map<string, { id: number; until: number }>();
  private readonly watchers = new Map<string, Set<(entry: ClientTokenEntry) => void>>();
  private nextLease = 1;

  /** `now` is the store's clock (a fleet test passes its FakeClock). */
  constructor(
    private readonly now: () => number = Date.now,
    private readonly maxEntries: number = CLIENT_CREDENTIALS_DEFAULTS.maxStoreEntries,
  ) {}

  read(key: string): Promise<ClientTokenEntry | null> {
    const held = this.entries.get(key);
    if (held === undefined) return Promise.resolve(null);
    if (this.now() >= held.until) {
      this.entries.delete(key);
      return Promise.resolve(null);
    }
    return Promise.resolve(structuredClone(held.entry));
  }

  write(key: string, entry: ClientTokenEntry, ttlMs: number): Promise<void> {
    this.entries.delete(key);
    // Full: the oldest written goes (a Map keeps insertion order; a rewrite moved its key to the end).
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(key, { entry: structuredClone(entry), until: this.now() + Math.max(1, ttlMs) });
    for (const onChange of this.watchers.get(key) ?? []) {
      try {
        onChange(structuredClone(entry));
      } catch {
        // A broken watcher must not stop the write.
      }
    }
    return Promise.resolve();
  }

  lease(key: string, ttlMs: number): Promise<ClientTokenLease | null> {
    const now = this.now();
    const held = this.leases.get(key);
    if (held !== undefined && now < held.until) return Promise.resolve(null);
    const id = this.nextLease++;
    this.leases.set(key, { id, until: now + ttlMs });
    return Promise.resolve({
      release: () => {
        if (this.leases.get(key)?.id === id) this.leases.delete(key);
        return Promise.resolve();
      },
    });
  }

  watch(key: string, onChange: (entry: ClientTokenEntry) => void): () => void {
    let set = this.watchers.get(key);
    if (set === undefined) this.watchers.set(key, (set = new Set()));
    set.add(onChange);
    return () => {
      set.delete(onChange);
      if (set.size === 0) this.watchers.delete(key);
    };
  }

  /** Entries held (for tests and bounds). */
  get size(): number {
    return this.entries.size;
  }
}
