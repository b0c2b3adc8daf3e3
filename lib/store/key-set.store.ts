import type { KeySetState } from '../cache/key-set.state.js';

/**
 * Which key set a store call is about: one issuer's keys from one location. Stores key by both,
 * never by `kid`: two tenants may publish the same kid, and neither's key may verify the other's
 * tokens. `jwksUri` is null when the location is found by OIDC discovery.
 */
export interface KeySetId {
  readonly issuer: string;
  readonly jwksUri: string | null;
}

/**
 * A lease held by one process of a fleet, so that only it fetches the key set while the others
 * wait for the pushed result (single flight across processes). Released when the fetch ends, or
 * lapses on its own after its ttl if the process dies.
 */
export interface KeySetLease {
  release(): Promise<void>;
}

/**
 * Where key sets' states are kept beyond this process's memory: a snapshot file for restarts, a
 * shared store (Redis) for a fleet. One store serves every issuer of a module, keyed by `KeySetId`. The source keeps its working state in memory and never reads
 * a store on the per-request path: it saves after a good fetch (or a 304), loads once when the
 * warm-up found no set, and takes changes a store pushes through `watch`.
 */
export interface KeySetStore {
  /** The last saved state, or null when there is none usable (a store logs why itself). */
  load(id: KeySetId): Promise<KeySetState | null>;
  /**
   * Keeps `state`. Calls arrive one after another, newest last. A rejection is logged by the
   * source and never fatal.
   */
  save(id: KeySetId, state: KeySetState): Promise<void>;
  /**
   * Changes saved by someone else (another process of a fleet): `onChange` receives each, and the
   * source applies it as its own state. Returns the unsubscribe function. Optional: a store that
   * only this process writes has nothing to push.
   */
  watch?(id: KeySetId, onChange: (state: KeySetState) => void): () => void;
  /** The issuer was removed (`removeIssuer`): a store may drop what it holds for this key set. Optional. */
  delete?(id: KeySetId): void | Promise<void>;
  /**
   * Fleet mode: take the fetch lease for `ttlMs`, or null when another process holds it. The source
   * fetches only while it holds the lease, and otherwise waits for the holder's pushed result. A
   * rejection means the store cannot coordinate now (Redis down or slow: the Redis store rejects
   * with `JwksStoreError`): the caller fetches itself, under its own per-process single flight and
   * cooldown, exactly as without a fleet. Null is only ever "someone else holds it"; a store must
   * never answer null for an error, or every process would wait for a holder that does not exist.
   * `release()` never rejects: a lease not released lapses at its ttl.
   *
   * A store with `lease` must also have `update` and `watch`: the three make it a fleet store.
   */
  lease?(id: KeySetId, ttlMs: number): Promise<KeySetLease | null>;
  /**
   * Fleet mode: an atomic read-modify-write of the shared state. `change` receives the stored state
   * (null when there is none usable) and returns the state to store, or null to leave it as it is;
   * it may be called more than once (a store retries it when another process wrote in between, so
   * no process's change is lost). Resolves with the state stored afterwards. Rejects
   * (`JwksStoreError`) when the store cannot be reached: the source keeps its change and retries.
   */
  update?(id: KeySetId, change: (current: KeySetState | null) => KeySetState | null): Promise<KeySetState | null>;
  /**
   * Fleet mode: whether this process is in touch with the shared store now (`'joined'`), or carries
   * on from its own memory while it cannot reach it (`'degraded'`). Shown in state and health.
   */
  fleetStatus?(): 'joined' | 'degraded';
}

/** A store shared by a fleet: with `lease`, `update` and `watch`, the source coordinates fetches through it. */
export type FleetKeySetStore = KeySetStore & Required<Pick<KeySetStore, 'lease' | 'update' | 'watch'>>;

export function isFleetStore(store: KeySetStore): store is FleetKeySetStore {
  return typeof store.lease === 'function' && typeof store.update === 'function' && typeof store.watch === 'function';
}
