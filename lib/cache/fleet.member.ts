import { FLEET_DEFAULTS, fleetLeaseTtlMs } from '../jwks-auth.constants.js';
import { JwksArgumentError } from '../errors/jwks.errors.js';
import type { JwksAuthEventBody } from '../events/jwks-auth.events.js';
import type { FleetKeySetStore, KeySetId, KeySetLease } from '../store/key-set.store.js';
import type { KeyIndex } from '../verify/jwk-set.parser.js';
import type { Clock, TimerHandle } from './clock.js';
import type { KeySetState } from './key-set.state.js';
import type { KeySetPolicyOptions } from './key-set.policy.js';
import { boundSharedState, combineStates, fetchStillNeeded, withChanges, type FleetFlight, type SharedChange } from './fleet.policy.js';

/** What a `FleetMember` needs of the key set it serves (`KeySetSource`). */
export interface FleetHost {
  readonly id: KeySetId;
  readonly clock: Clock;
  readonly policy: KeySetPolicyOptions;
  /** The key set's state as it stands. */
  state(): KeySetState;
  closed(): boolean;
  /**
   * Makes `next` (this process's state combined with the fleet's) the key set's state, parsed
   * already when `parsed` is given; reports revocations that arrived from the fleet.
   * @throws when the set does not parse (the held state is left as it was)
   */
  take(next: KeySetState, origin: 'store' | 'watch', parsed: KeyIndex | undefined): void;
  /** @throws when the set does not parse or has no usable key */
  parse(jwks: string): KeyIndex;
  /** Delivers an event about this key set (its JWKS URI is added). */
  emit(body: DistributiveOmit<JwksAuthEventBody, 'jwksUri'>): void;
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/**
 * The fleet side of one key set: how a process joins the fleet's shared state, fetches only
 * under the store's lease (waiting for the holder's pushed result otherwise), adopts what other
 * processes write, and writes what it learns or is told (a fetch's outcome, an operator's
 * change), merged with their writes. What to decide is the pure fleet policy
 * (`fleet.policy.ts`); this carries it out against a `FleetKeySetStore`.
 */
export class FleetMember {
  private readonly leaseTtlMs: number;
  /**
   * Operator changes made here and not yet in the shared state, by what they change (`kid:<kid>`
   * for a revocation or restoration, `invalidate`): the latest per key, so the list stays bounded
   * by the kids touched however long Redis is away.
   */
  private readonly unshared = new Map<string, SharedChange>();
  /** The shared-state write running now; `writeAgain` asks it for one more round. */
  private writing: Promise<void> | null = null;
  private writeAgain = false;
  private retryTimer: TimerHandle | null = null;
  /** Flights waiting for another process's result, woken by a push. */
  private readonly wakers = new Set<() => void>();

  constructor(
    private readonly store: FleetKeySetStore,
    private readonly host: FleetHost,
    fetchTimeoutMs: number,
  ) {
    this.leaseTtlMs = fleetLeaseTtlMs(fetchTimeoutMs);
  }

  /** `'joined'` while the store is reachable, `'degraded'` while this process carries on without it. */
  status(): 'joined' | 'degraded' {
    return this.store.fleetStatus?.() ?? 'joined';
  }

  /** Reads the fleet's state at startup, before any fetch; Redis trouble (logged by the store) just means none. */
  async join(): Promise<void> {
    const shared = await this.store.load(this.host.id).catch(() => null);
    if (shared !== null && !this.host.closed()) this.adoptQuietly(shared, 'store');
  }

  /**
   * A fetch for the fleet: only the holder of the store's lease asks the IdP, and writes the
   * outcome (a new set, a 304, or a failure with its backoff and `Retry-After`) to the shared
   * state before it lets the lease go; every other process waits for that result, pushed by the
   * store (or looked for every `FLEET_DEFAULTS.waitPollMs`), and never fetches meanwhile. A
   * holder that dies leaves a lease that lapses after `fleetLeaseTtlMs`; the next process to take
   * it fetches. When the store cannot coordinate (Redis down or slow), this process fetches as a
   * lone process would: its own single flight, cooldown and backoff. `upstream` asks the IdP
   * (never rejects: its outcome lands in the state).
   */
  async fetch(want: FleetFlight, upstream: () => Promise<void>): Promise<void> {
    const { host, store } = this;
    // A holder keeps the lease at most its ttl; waiting longer means no holder will answer (a
    // store whose lease does not lapse): fetch alone, as when the store cannot coordinate.
    const giveUpAt = host.clock.now() + this.leaseTtlMs + 2 * FLEET_DEFAULTS.waitPollMs;
    for (;;) {
      if (host.closed() || !fetchStillNeeded(host.state(), host.clock.now(), host.policy, want)) return;
      let lease: KeySetLease | null | 'no-coordination';
      try {
        lease = await store.lease(host.id, this.leaseTtlMs);
      } catch {
        lease = 'no-coordination';
      }
      if (lease === 'no-coordination' || (lease === null && host.clock.now() >= giveUpAt)) {
        await upstream();
        // Not awaited: Redis is likely down, and a waiting request must not wait on it.
        void this.write();
        return;
      }
      if (lease === null) {
        await this.pushedOr(FLEET_DEFAULTS.waitPollMs);
        continue;
      }
      try {
        // The holder before may have written its result just now: read it before asking the IdP.
        const shared = await store.load(host.id);
        if (shared !== null && !host.closed()) this.adoptQuietly(shared, 'store');
        if (host.closed() || !fetchStillNeeded(host.state(), host.clock.now(), host.policy, want)) return;
        await upstream();
        await this.write();
      } finally {
        await lease.release();
      }
      return;
    }
  }

  /**
   * A state another process wrote, pushed by the store: this process takes it (combined with
   * what it knows), and a flight waiting for another process's fetch looks at what arrived.
   */
  pushed(shared: KeySetState): void {
    this.adoptQuietly(shared, 'watch');
    for (const wake of this.wakers) wake();
  }

  /**
   * An operator's change, written to the fleet's state (the caller holds it here at once).
   * @throws JwksArgumentError when `FLEET_DEFAULTS.maxUnsharedChanges` changes already wait for an unreachable store
   */
  share(key: string, change: SharedChange): void {
    if (this.host.closed()) return;
    if (!this.unshared.has(key) && this.unshared.size >= FLEET_DEFAULTS.maxUnsharedChanges) {
      throw new JwksArgumentError(
        `${FLEET_DEFAULTS.maxUnsharedChanges} revocations, restorations and invalidations already wait for the fleet's store (Redis unreachable); try again once it is back (fleet: 'joined')`,
      );
    }
    // Delete first: a Map keeps first-insertion order, and a newer change belongs at the end.
    this.unshared.delete(key);
    this.unshared.set(key, change);
    void this.write();
  }

  /** Stops the retries, wakes waiting flights (they see the key set closed) and waits for a write under way. */
  async close(): Promise<void> {
    if (this.retryTimer !== null) this.host.clock.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    for (const wake of this.wakers) wake();
    await this.writing;
  }

  /** Resolves when another process's result is pushed, after `ms`, or at close. */
  private pushedOr(ms: number): Promise<void> {
    const clock = this.host.clock;
    return new Promise((resolve) => {
      const wake = (): void => {
        clock.clearTimeout(timer);
        this.wakers.delete(wake);
        resolve();
      };
      const timer = clock.setTimeout(wake, ms);
      this.wakers.add(wake);
    });
  }

  /**
   * Takes a shared state as this process's: bounded by this process's options, combined with
   * what it knows itself (see `combineStates`), with its own changes not yet shared on top.
   * A set that does not parse is reported and left out (see `usable`).
   */
  private adoptQuietly(shared: KeySetState, origin: 'store' | 'watch'): void {
    const usable = this.usable(shared);
    const next = withChanges(combineStates(this.host.state(), usable.state), this.unshared.values());
    try {
      this.host.take(next, origin, next.jwks === usable.state.jwks ? usable.parsed : undefined);
    } catch {
      this.host.emit({ type: 'store-not-used', reason: 'unusable-pushed-set' });
    }
  }

  /**
   * A shared state as this process may use it: bounded by its options; with implausible moments
   * or counts (reported), only its revocation list, which a process whose clock is far off still
   * shares (a revocation must never be erased by the next write); and without its key set when
   * that set does not parse or has no usable key (reported): its other members (revocations,
   * backoff, cooldown) still count, and this process's own set wins, so the next write repairs
   * the shared value instead of keeping a poisoned set that every process refuses. The parsed set
   * comes along, so it is parsed once.
   */
  private usable(shared: KeySetState): { state: KeySetState; parsed?: KeyIndex } {
    const { host } = this;
    const bounded = boundSharedState(shared, host.clock.now(), host.policy, FLEET_DEFAULTS.maxClockSkewMs);
    if (bounded === null) {
      host.emit({ type: 'store-not-used', reason: 'implausible-times' });
      return { state: { ...host.state(), revokedKids: shared.revokedKids } };
    }
    if (bounded.jwks === null || bounded.jwks === host.state().jwks) return { state: bounded };
    try {
      return { state: bounded, parsed: host.parse(bounded.jwks) };
    } catch {
      host.emit({ type: 'store-not-used', reason: 'unusable-pushed-set' });
      return { state: { ...bounded, jwks: null, fetchedAt: null, etag: null, freshUntil: 0, setRevision: 0 } };
    }
  }

  /**
   * Writes what this process knows (a fetch's outcome, its unshared changes) into the shared
   * state, one write at a time; a call while one runs asks it for another round. Resolves when
   * the writes end; never rejects.
   */
  write(): Promise<void> {
    if (this.host.closed()) return Promise.resolve();
    this.writeAgain = true;
    // writeRounds always awaits before it ends, so `writing` is set before its finally clears it.
    this.writing ??= this.writeRounds().finally(() => {
      this.writing = null;
    });
    return this.writing;
  }

  private async writeRounds(): Promise<void> {
    while (this.writeAgain && !this.host.closed()) {
      this.writeAgain = false;
      if (!(await this.writeOnce())) {
        this.retryLater();
        return;
      }
    }
  }

  /** One write of the combined state; false when the store could not be reached (it logs why). */
  private async writeOnce(): Promise<boolean> {
    const { host } = this;
    let included: [string, SharedChange][] = [];
    let written: KeySetState | null;
    try {
      written = await this.store.update(host.id, (current) => {
        included = [...this.unshared];
        // Nothing stored (none yet, flushed, or a value the store refused): this process's state repairs it.
        if (current === null) return host.state();
        const usable = this.usable(current);
        return withChanges(combineStates(host.state(), usable.state), this.unshared.values());
      });
    } catch (err) {
      host.emit({ type: 'store-save-failed', code: String((err as { code?: string })?.code ?? 'error') });
      return false;
    }
    // Written: forget each change, unless a newer one for the same key came meanwhile.
    for (const [key, change] of included) if (this.unshared.get(key) === change) this.unshared.delete(key);
    if (written !== null && !host.closed()) this.adoptQuietly(written, 'store');
    return true;
  }

  /** Changes that did not reach the fleet are written again until they do; a fetch's outcome waits for the next write. */
  private retryLater(): void {
    if (this.unshared.size === 0 || this.retryTimer !== null || this.host.closed()) return;
    this.retryTimer = this.host.clock.setTimeout(() => {
      this.retryTimer = null;
      void this.write();
    }, FLEET_DEFAULTS.changeRetryMs);
  }
}
