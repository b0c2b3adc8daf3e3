import type { KeyObject } from 'node:crypto';
import { JWKS_DEFAULTS } from '../jwks-auth.constants.js';
import {
  JwksArgumentError,
  JwksFetchError,
  JwksRefreshDeferredError,
  KeyCoolingDownError,
  KeyFetchBackoffError,
  KeyNotFoundError,
  KeyRevokedError,
  KeySetUnavailableError,
  KeyWaitTimeoutError,
  type JwksFetchErrorKind,
  type JwtVerificationError,
} from '../errors/jwks.errors.js';
import type { ResolvedIssuerOptions, ResolvedJwksOptions } from '../interfaces/jwks-auth-options.interface.js';
import type { JwksFetcher } from '../fetch/jwks.fetcher.js';
import type { DiscoveryDocumentKind, DiscoveryFetcher } from '../fetch/discovery.fetcher.js';
import { KeyIndex, parseJwkSet, type VerificationKey } from '../verify/jwk-set.parser.js';
import { SAFE_KID } from '../verify/kid.js';
import type { JwksAuthEventBody, JwksAuthEventListener } from '../events/jwks-auth.events.js';
import { isFleetStore, type KeySetId, type KeySetStore } from '../store/key-set.store.js';
import { randomOf, type Clock, type TimerHandle } from './clock.js';
import { initialKeySetState, type KeySetError, type KeySetState } from './key-set.state.js';
import { fetchStillNeeded, invalidation } from './fleet.policy.js';
import { FleetMember } from './fleet.member.js';
import {
  decideLookup,
  decideRefresh,
  isCoolingDown,
  isUsable,
  nextRefreshAt,
  onFetchFailure,
  onFetchStart,
  onFetchSuccess,
  onInvalidate,
  onKeyRestored,
  onKeyRevoked,
  onNotModified,
  onSnapshotRestored,
  phaseOf,
  servesFromMemory,
  type FetchReason,
  type KeySetPhase,
  type KeySetPolicyOptions,
  type LookupFailure,
} from './key-set.policy.js';

/** A read-only view of the cache, for callers, health and metrics. */
export interface JwksCacheState {
  /** Key ids of the held set, revoked ones left out (may be sensitive in logs; fine in a health body you protect). */
  kids: string[];
  /** Kids refused by `revokeKey()` until `restoreKey()`. */
  revokedKids: string[];
  keyCount: number;
  rejectedKeyCount: number;
  phase: KeySetPhase;
  fresh: boolean;
  coolingDown: boolean;
  /** A fetch is in flight. */
  fetching: boolean;
  fetchedAt: number | null;
  ageMs: number | null;
  freshUntil: number | null;
  nextRefreshAt: number | null;
  nextAttemptAt: number | null;
  consecutiveFailures: number;
  lastError: KeySetError | null;
  fetchCount: number;
  notModifiedCount: number;
  /**
   * Fleet mode: `'joined'` while the shared store (Redis) is reachable, `'degraded'` while this
   * process carries on from its own memory without it; `'off'` without `fleet`.
   */
  fleet: 'off' | 'joined' | 'degraded';
}

/** Options of `refresh()`. */
export interface JwksRefreshOptions {
  /**
   * Fetch even while the IdP's `Retry-After` / `x-ratelimit-reset` or our backoff says to wait.
   * For an emergency only: it spends a request the IdP asked us not to make.
   */
  force?: boolean;
}

/** One upstream fetch, shared by every caller while it runs. */
interface Flight {
  /** Fetches are numbered in the order they start: an invalidation is answered only by a later one. */
  readonly seq: number;
  readonly reason: FetchReason;
  readonly startedAt: number;
  /** `refresh({ force: true })`: fetch even inside the backoff. */
  readonly force: boolean;
  /** The state's `revision` when it started: in a fleet, any later outcome answers it. */
  readonly revision: number;
  done: Promise<void>;
  /** Resolves when waiters must give up (`cache.maxWaitMs` after the start); armed by the first waiter. */
  deadline: Promise<'timeout'> | null;
  deadlineTimer: TimerHandle | null;
}

/** A lookup waits for at most this many fetches: an old one in flight, then the one answering an invalidation. */
const MAX_LOOKUP_ROUNDS = 3;


/** The JWKS URI as logged: scheme, host and path; a query string could carry anything. */
function uriForLog(uri: string): string {
  try {
    const url = new URL(uri);
    return `${url.origin}${url.pathname}`;
  } catch {
    return '(invalid URI)';
  }
}

/** Where log lines go (Nest's `Logger` fits): the logging listener's and the snapshot store's sink. */
export interface KeySetLog {
  warn(message: string): void;
  error(message: string): void;
  /** Normal operation worth a line (an issuer added or removed); optional. */
  log?(message: string): void;
}

/** What one `KeySetSource` is built from. */
export interface KeySetSourceDeps {
  /** The module's options: cache, fetch and warm-up settings shared by every issuer. */
  options: ResolvedJwksOptions;
  /** The issuer whose keys this is. Default: the first configured one. */
  issuer?: ResolvedIssuerOptions;
  clock: Clock;
  fetcher: JwksFetcher;
  /** Finds the JWKS URI of an issuer configured without one (OIDC discovery). */
  discover?: DiscoveryFetcher;
  /** Where the state is saved and pushed changes come from; the source's own memory serves lookups. */
  store: KeySetStore;
  /** Receive every event (`loggingListener` for today's log lines). */
  listeners: readonly JwksAuthEventListener[];
}

/**
 * One issuer's key set, in plain TypeScript (no Nest): it holds the policy state and the parsed
 * index and carries out what the pure policy (`key-set.policy.ts`) decides: single-flight
 * fetches, cooldown-limited refetch on unknown kids, background refresh ahead of expiry, backoff
 * after failures, last-known-good through outages, bounded waiting, operator revocation. Every
 * state change goes through `commit()`. `JwksCacheService` is its Nest shell.
 */
export class KeySetSource {
  private readonly options: ResolvedJwksOptions;
  /** The issuer this key set belongs to: its JWKS location and the algorithms its keys may have. */
  readonly issuer: ResolvedIssuerOptions;
  /** What the store knows this key set by. */
  readonly id: KeySetId;
  private readonly clock: Clock;
  private readonly discover: DiscoveryFetcher | null;
  /** The `jwks_uri` discovery gave, when the issuer has no configured one, and when it was read. */
  private discovered: { jwksUri: string; at: number; document: DiscoveryDocumentKind | undefined } | null = null;
  /** Read the discovery document again before the next fetch: the last one failed as if the keys moved. */
  private rediscover = false;
  /**
   * After a failed re-read, the document is not asked again before this (the cooldown, or its
   * `Retry-After`): the known `jwks_uri` serves meanwhile, so a broken document costs the IdP no
   * extra request per key fetch.
   */
  private discoveryNotBefore = 0;
  private readonly fetcher: JwksFetcher;
  private readonly listeners: readonly JwksAuthEventListener[];
  private readonly store: KeySetStore;
  /** With a store a fleet shares: fetches go through its lease, and changes through `update`. */
  private readonly fleet: FleetMember | null;
  private unwatch: (() => void) | null = null;
  private readonly policy: KeySetPolicyOptions;
  /** The JWKS URI as logged; for discovery, the issuer until the document has named it. */
  private uri: string;
  private state: KeySetState = initialKeySetState();
  /** Every usable key of the raw set, parsed once per change of the raw set. */
  private parsed: KeyIndex = KeyIndex.EMPTY;
  /** `parsed` without revoked kids: what lookups see. */
  private index: KeyIndex = KeyIndex.EMPTY;
  private revoked: ReadonlySet<string> = new Set();
  private flight: Flight | null = null;
  private fetchSeq = 0;
  /** `fetchSeq` at the last `invalidate()`: only a fetch numbered above it answers the invalidation. */
  private invalidatedAtSeq = 0;
  private waiters = 0;
  /** Upstream requests this process made (answered or failed), and how many were answered 304. */
  private fetchCount = 0;
  private notModifiedCount = 0;
  private timer: TimerHandle | null = null;
  private scheduledAt: number | null = null;
  private closed = false;
  /** Aborted by `close()`: ends a fetch in flight at once. */
  private readonly shutdown = new AbortController();
  /** Store writes run one after another, so an older set never lands over a newer one. */
  private storeWrite: Promise<void> = Promise.resolve();
  /** Jitter from the injected clock (deterministic in tests). */
  private readonly random: () => number;

  constructor({ options, issuer, clock, fetcher, discover, store, listeners }: KeySetSourceDeps) {
    this.options = options;
    const own = issuer ?? options.issuers[0];
    if (own === undefined) throw new JwksArgumentError('KeySetSource: no issuer given and none configured');
    this.issuer = own;
    this.id = Object.freeze({ issuer: own.issuer, jwksUri: own.jwksUri });
    this.discover = discover ?? null;
    this.store = store;
    this.clock = clock;
    this.fetcher = fetcher;
    this.listeners = listeners;
    this.policy = { ...options.cache, unavailableRetryMaxMs: JWKS_DEFAULTS.unavailableRetryMaxMs };
    this.uri = uriForLog(own.jwksUri ?? own.issuer);
    this.random = randomOf(clock);
    this.fleet = isFleetStore(store)
      ? new FleetMember(
          store,
          {
            id: this.id,
            clock,
            policy: this.policy,
            state: () => this.state,
            closed: () => this.closed,
            take: (next, origin, parsed) => this.takeShared(next, origin, parsed),
            parse: (jwks) => this.parse(jwks),
            emit: (body) => this.emit({ ...body, jwksUri: this.uri } as JwksAuthEventBody),
          },
          options.fetch.timeoutMs,
        )
      : null;
  }

  /**
   * Warm the cache before the application serves its first request. Startup waits at most
   * `warmupTimeoutMs`; a slower fetch carries on in the background.
   */
  async start(): Promise<void> {
    this.unwatch ??= this.store.watch?.(this.id, (state) => this.applyStored(state)) ?? null;
    // A fleet's set first: a deploy of N processes costs the IdP nothing while it is fresh, and
    // an IdP outage during a deploy does not stop new processes from serving.
    if (this.fleet !== null) await this.joinFleet(this.fleet);
    if (this.closed) return;
    const now = this.clock.now();
    let finished = true;
    if (this.fleet === null || fetchStillNeeded(this.state, now, this.policy, { reason: 'warm-up', revision: this.state.revision, force: false })) {
      const flight = this.startFetch('warm-up');
      finished = await this.within(flight.done, this.options.warmupTimeoutMs);
      // Closed meanwhile (shutdown, or the issuer removed during addIssuer): the fetch was cancelled,
      // not failed; no store read, no warm-up failure to report or throw.
      if (this.closed) return;
      if (this.fleet === null && this.state.jwks === null) await this.restoreFromStore();
    }
    if (isUsable(this.state, this.clock.now(), this.policy)) return;
    const last = this.state.lastError;
    const reason = finished ? (last?.message ?? 'unknown error') : `no answer within warmupTimeoutMs (${this.options.warmupTimeoutMs} ms)`;
    if (this.options.failOnWarmupError) {
      throw new JwksFetchError(`JWKS warm-up from ${this.uri} failed: ${reason}`, finished ? ((last?.kind ?? 'network') as JwksFetchErrorKind) : 'timeout', finished ? last?.status : undefined);
    }
    this.emit({ type: 'warm-up-failed', jwksUri: this.uri, reason, stillFetching: !finished });
  }

  /** Clears the timer, stops watching the store and waits for a pending save, so a graceful stop keeps the last set. */
  async close(): Promise<void> {
    this.closed = true;
    // A fetch in flight (a hanging warm-up, say) ends now rather than at its timeout.
    this.shutdown.abort();
    this.cancelTimer();
    this.unwatch?.();
    this.unwatch = null;
    await Promise.all([this.storeWrite, this.fleet?.close()]);
  }

  /**
   * A state saved elsewhere (another process of a fleet) and pushed by the store: it becomes this
   * process's state, through `commit()` like any other change. One whose key set does not parse is
   * ignored: the held set keeps serving.
   */
  applyStored(state: KeySetState): void {
    if (this.closed) return;
    if (this.fleet !== null) {
      this.fleet.pushed(state);
      return;
    }
    try {
      this.commit(state, { persist: false, origin: 'watch' });
    } catch {
      this.emit({ type: 'store-not-used', jwksUri: this.uri, reason: 'unusable-pushed-set' });
    }
  }

  /**
   * The verification key for `kid`. A cached key resolves without I/O; an unknown kid refetches
   * the whole set at most once per cooldown (one shared fetch for all callers) and inside the
   * cooldown fails fast with `KeyCoolingDownError`.
   */
  async getSigningKey(kid: string): Promise<KeyObject> {
    const keys = await this.resolveKeys(kid, undefined);
    return keys[0].keyObject;
  }

  /** Candidate keys for a token; used by `JwtVerifier`. */
  async resolveKeys(kid: string | undefined, alg: string | undefined): Promise<readonly VerificationKey[]> {
    for (let round = 0; ; round++) {
      // A closed key set is a removed issuer: a request that waited across the removal serves nothing.
      if (this.closed) throw new KeySetUnavailableError('the issuer of this key set was removed', 0);
      if (kid !== undefined && this.revoked.has(kid)) throw new KeyRevokedError('the token kid was revoked by the operator');
      const decision = decideLookup(this.state, this.clock.now(), this.policy, {
        known: this.index.has(kid),
        inFlight: this.flight !== null,
        afterFetch: round > 0,
        waiters: this.waiters,
      });
      if (decision.action === 'hit') {
        const found = this.index.candidates(kid, alg ?? '');
        if (found && found.length > 0) return found;
        throw new KeyNotFoundError('no key in the set matches the token');
      }
      if (round === 0 && kid !== undefined && !this.index.has(kid)) {
        // Only a fail before any fetch is a refusal; 'not-found' comes after one (round > 0).
        const action = decision.action === 'fail' && decision.reason !== 'not-found' ? decision.reason : 'refetch';
        this.emit({ type: 'unknown-kid', jwksUri: this.uri, action });
      }
      if (decision.action === 'fail') {
        const r = decision.reason;
        if (r === 'cooldown' || r === 'backoff' || r === 'busy') this.emit({ type: 'refetch-refused', jwksUri: this.uri, reason: r });
        throw this.failure(r);
      }
      const flight = decision.action === 'fetch' ? this.startFetch(decision.reason) : (this.flight as Flight);
      // Invalidated again and again while this request waited: do not chase invalidations forever.
      const answered = round + 1 < MAX_LOOKUP_ROUNDS && (await this.waitFor(flight));
      if (answered) continue;
      // The IdP is slow. A kid the held, usable set knows is served as last-known-good (an
      // unanswered revalidation must not refuse valid tokens); anything else is refused.
      if (kid !== undefined && this.revoked.has(kid)) throw new KeyRevokedError('the token kid was revoked by the operator');
      const held = isUsable(this.state, this.clock.now(), this.policy) ? this.index.candidates(kid, alg ?? '') : undefined;
      if (held !== undefined && held.length > 0) {
        const now = this.clock.now();
        this.emit({ type: 'stale-served', jwksUri: this.uri, reason: 'wait-timeout', ageMs: this.state.fetchedAt === null ? null : now - this.state.fetchedAt });
        return held;
      }
      if (!isUsable(this.state, this.clock.now(), this.policy)) throw this.failure('unavailable');
      throw new KeyWaitTimeoutError(`no answer from the JWKS endpoint within maxWaitMs (${this.policy.maxWaitMs} ms)`);
    }
  }

  /**
   * Every key of the usable set (revoked ones left out), fetching first exactly when a lookup
   * would (nothing held yet, or invalidated): the jwks-rsa facade's `getSigningKeys()`.
   */
  async allKeys(): Promise<readonly VerificationKey[]> {
    try {
      // No kid and no algorithm matches no key: this only runs the lookup policy (and its fetch).
      await this.resolveKeys(undefined, undefined);
    } catch (err) {
      if (!(err instanceof KeyNotFoundError)) throw err;
    }
    return this.index.keys;
  }

  /**
   * The synchronous fast path of `resolveKeys`: the candidates when the held set can
   * answer without any I/O (usable, not invalidated, kid known), else undefined.
   */
  peekKeys(kid: string | undefined, alg: string): readonly VerificationKey[] | undefined {
    return servesFromMemory(this.state, this.clock.now(), this.policy) ? this.index.candidates(kid, alg) : undefined;
  }

  /** Whether a key may still verify: part of the current, usable, not invalidated set, not revoked. */
  isKeyCurrent(key: VerificationKey): boolean {
    // A closed source is a removed issuer: its keys (and tokens cached under them) stop verifying.
    return !this.closed && servesFromMemory(this.state, this.clock.now(), this.policy) && this.index.contains(key);
  }

  /**
   * Fetch the set now, bypassing the unknown-kid cooldown. Resolves with a state that reflects a
   * fetch started after this call (a background or unknown-kid fetch already in flight may predate
   * it, so it is waited out first); concurrent `refresh()` calls share one fetch. A failed fetch
   * resolves too: see `lastError`.
   * @throws JwksRefreshDeferredError while the IdP's `Retry-After` / `x-ratelimit-reset` or the
   *   backoff says to wait, unless `{ force: true }`: nothing is fetched then.
   */
  async refresh(options: JwksRefreshOptions = {}): Promise<JwksCacheState> {
    if (typeof options !== 'object' || options === null) throw new JwksArgumentError('refresh(options): options must be an object such as { force: true }');
    const force = options.force === true;
    const since = this.fetchSeq;
    for (;;) {
      const flight = this.flight;
      if (flight !== null) {
        await flight.done;
        // Another refresh() call's fetch is shared (an operator asked for it just now); any other
        // fetch in flight (background, unknown kid) may predate this call: wait it out, then fetch.
        if (flight.seq > since || flight.reason === 'manual') break;
        continue;
      }
      const decision = decideRefresh(this.state, this.clock.now(), force);
      if (decision.action === 'defer') {
        throw new JwksRefreshDeferredError(
          `JWKS refresh deferred: the endpoint asked us to wait (Retry-After, rate limit or backoff) ${Math.ceil(decision.waitMs / 1000)} s more; refresh({ force: true }) overrides`,
          decision.waitMs,
        );
      }
      await this.startFetch('manual', force).done;
      break;
    }
    return this.getState();
  }

  /**
   * Stop trusting the current set until it is confirmed: the next verification waits for a fetch
   * started after this call (or the background refresh makes it first). If that fetch fails, or the
   * IdP asked us to wait, the current set keeps serving as last-known-good: availability first.
   * To refuse a key at once whatever the IdP does, use `revokeKey()`.
   */
  invalidate(): void {
    // Nothing held, nothing to revalidate (onInvalidate leaves the state as it is).
    if (this.state.jwks !== null) this.fleet?.share('invalidate', invalidation(this.state.invalidations + 1));
    this.invalidatedAtSeq = this.fetchSeq;
    this.commit(onInvalidate(this.state, this.clock.now()));
  }

  /**
   * Emergency tool: tokens signed with `kid` are refused at once (`ERR_JWKS_KEY_REVOKED`), also
   * from the verified-token cache, whatever the IdP publishes and whether or not it is reachable,
   * until `restoreKey(kid)`. A refetch that still lists the kid does not bring it back. Held in
   * this process only (not across restarts).
   * @throws JwksArgumentError when `kid` is not a key id or the revocation list is full
   */
  revokeKey(kid: string): void {
    this.checkKid('revokeKey', kid);
    if (!this.state.revokedKids.includes(kid) && this.state.revokedKids.length >= JWKS_DEFAULTS.maxRevokedKids) {
      throw new JwksArgumentError(`revokeKey(kid): at most ${JWKS_DEFAULTS.maxRevokedKids} kids can be revoked at once; restore some first`);
    }
    // Shared first: a fleet whose pending changes are full refuses (throws) before anything changes here.
    this.fleet?.share(`kid:${kid}`, (s) => onKeyRevoked(s, kid));
    this.commit(onKeyRevoked(this.state, kid));
    this.emit({ type: 'key-revoked', jwksUri: this.uri, kid });
  }

  /** Undo `revokeKey(kid)`: the kid verifies again if the IdP still publishes it. */
  restoreKey(kid: string): void {
    this.checkKid('restoreKey', kid);
    // In a fleet, shared even when this process does not hold the revocation yet: another
    // process's revokeKey() may not have arrived, and the later call must win.
    this.fleet?.share(`kid:${kid}`, (s) => onKeyRestored(s, kid));
    if (!this.state.revokedKids.includes(kid)) return;
    this.commit(onKeyRestored(this.state, kid));
    this.emit({ type: 'key-restored', jwksUri: this.uri, kid });
  }

  /** The JWKS URI as logs show it (scheme, host, path); the issuer's, until discovery has named it. */
  loggedUri(): string {
    return this.uri;
  }

  /** The shareable key-set state as it stands (plain data; what a store holds). */
  keySetState(): KeySetState {
    return this.state;
  }

  getState(): JwksCacheState {
    const now = this.clock.now();
    const s = this.state;
    const phase = phaseOf(s, now, this.policy);
    return {
      kids: this.index.kids(),
      revokedKids: [...s.revokedKids],
      keyCount: this.index.size,
      rejectedKeyCount: this.index.rejected.length,
      phase,
      fresh: phase === 'fresh' && !s.mustRevalidate,
      coolingDown: isCoolingDown(s, now, this.policy),
      fetching: this.flight !== null,
      fetchedAt: s.fetchedAt,
      ageMs: s.fetchedAt === null ? null : now - s.fetchedAt,
      freshUntil: s.jwks === null ? null : s.freshUntil,
      nextRefreshAt: this.scheduledAt,
      nextAttemptAt: s.notBefore > now ? s.notBefore : null,
      consecutiveFailures: s.failures,
      lastError: s.lastError,
      fetchCount: this.fetchCount,
      notModifiedCount: this.notModifiedCount,
      fleet: this.fleet === null ? 'off' : this.fleet.status(),
    };
  }

  private checkKid(method: string, kid: unknown): asserts kid is string {
    if (typeof kid !== 'string' || !SAFE_KID.test(kid)) {
      throw new JwksArgumentError(`${method}(kid): kid must be a key id string of at most 128 safe characters`);
    }
  }

  private failure(reason: LookupFailure): JwtVerificationError {
    switch (reason) {
      case 'cooldown':
        return new KeyCoolingDownError('unknown kid inside the refetch cooldown');
      case 'busy':
        return new KeyCoolingDownError('unknown kid while too many requests already wait for a fetch');
      case 'backoff':
        return new KeyFetchBackoffError('unknown kid while the JWKS endpoint is backing off');
      case 'not-found':
        return new KeyNotFoundError('no key in the refreshed set matches the token');
      case 'unavailable': {
        const now = this.clock.now();
        const next = this.flight !== null ? now : Math.max(this.state.notBefore, this.scheduledAt ?? now);
        return new KeySetUnavailableError('no usable key set: the JWKS could not be fetched', Math.max(0, next - now));
      }
    }
  }

  /**
   * Waits for a flight, at most until its deadline; counted, so the policy can bound the waiters.
   * @returns true if the fetch finished, false if the deadline came first
   */
  private async waitFor(flight: Flight): Promise<boolean> {
    this.waiters++;
    try {
      return (await Promise.race([flight.done, this.deadlineOf(flight)])) !== 'timeout';
    } finally {
      this.waiters--;
    }
  }

  /** One timer per flight, not per waiter: a flood of waiters costs one timer. */
  private deadlineOf(flight: Flight): Promise<'timeout'> {
    flight.deadline ??= new Promise((resolve) => {
      const left = flight.startedAt + this.policy.maxWaitMs - this.clock.now();
      flight.deadlineTimer = this.clock.setTimeout(() => resolve('timeout'), Math.max(0, left));
    });
    return flight.deadline;
  }

  /** Resolves true if `work` settles within `ms` on the injected clock, false otherwise. */
  private within(work: Promise<void>, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = this.clock.setTimeout(() => resolve(false), ms);
      void work.then(() => {
        this.clock.clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /** Single flight: every caller while a fetch runs shares it (in a fleet, every process: see `FleetMember.fetch`). */
  private startFetch(reason: FetchReason, force = false): Flight {
    if (this.flight !== null) return this.flight;
    const now = this.clock.now();
    const flight: Flight = { seq: ++this.fetchSeq, reason, startedAt: now, force, revision: this.state.revision, done: Promise.resolve(), deadline: null, deadlineTimer: null };
    this.flight = flight;
    const fetched =
      this.fleet === null
        ? this.fetchUpstream(flight)
        : this.fleet.fetch({ reason, revision: flight.revision, force }, () => this.fetchUpstream(flight));
    flight.done = fetched.finally(() => {
      if (flight.deadlineTimer !== null) this.clock.clearTimeout(flight.deadlineTimer);
      this.flight = null;
      this.schedule();
    });
    return flight;
  }

  /** This process asks the IdP now. */
  private fetchUpstream(flight: Flight): Promise<void> {
    const now = this.clock.now();
    this.commit(onFetchStart(this.state, now, flight.reason));
    return this.fetchOnce(flight.seq, flight.reason, now);
  }

  /** Takes the fleet's state at startup, and says so when it serves from it. */
  private async joinFleet(fleet: FleetMember): Promise<void> {
    await fleet.join();
    const now = this.clock.now();
    const s = this.state;
    if (this.closed || s.jwks === null || s.fetchedAt === null || !isUsable(s, now, this.policy)) return;
    const event = { jwksUri: this.uri, keyCount: this.index.size, ageMs: now - s.fetchedAt };
    // A fresh set is a normal start; a stale one serves until the IdP answers, as a snapshot would.
    this.emit(phaseOf(s, now, this.policy) === 'fresh' ? { type: 'fleet-joined', ...event } : { type: 'store-restored', ...event });
  }

  /** A state combined with the fleet's becomes this one (see `FleetHost.take`). */
  private takeShared(next: KeySetState, origin: 'store' | 'watch', parsed: KeyIndex | undefined): void {
    const before = this.revoked;
    this.commit(next, { persist: false, origin, parsed });
    // Revocations made on another process: this process's log says so too (an on-call reads any pod's).
    if (this.revoked !== before) {
      for (const kid of this.revoked) if (!before.has(kid)) this.emit({ type: 'key-revoked', jwksUri: this.uri, kid, via: 'fleet' });
      for (const kid of before) if (!this.revoked.has(kid)) this.emit({ type: 'key-restored', jwksUri: this.uri, kid, via: 'fleet' });
    }
  }

  /** One upstream fetch; never rejects: its outcome lands in the state. */
  private async fetchOnce(seq: number, reason: FetchReason, startedAt: number): Promise<void> {
    const { timeoutMs, maxResponseBytes, maxKeys } = this.options.fetch;
    const invalidationsAtStart = this.state.invalidations;
    const ctx = () => ({ answersInvalidation: seq > this.invalidatedAtSeq, invalidationsAtStart });
    try {
      const uri = await this.jwksLocation();
      const result = await this.fetcher({
        uri,
        etag: this.state.jwks === null ? null : this.state.etag,
        timeoutMs,
        maxResponseBytes,
        now: this.clock.now(),
        signal: this.shutdown.signal,
      });
      // Closed meanwhile (the issuer was removed) by a fetcher that did not honour the signal:
      // its answer must not land in the state, nor in the store.
      if (this.closed) return;
      const now = this.clock.now();
      if (result.kind === 'not-modified') {
        // Only a held set can be "not modified". A custom fetcher's 304 with none held is a failed
        // fetch (backoff applies): taken as "nothing changed", it left the timer at "now", a refetch loop.
        if (this.state.jwks === null) throw new JwksFetchError('JWKS fetcher answered "not modified" while no key set is held', 'status', 304);
        this.fetchCount++;
        this.notModifiedCount++;
        this.commit(onNotModified(this.state, now, this.policy, result, ctx()));
        this.emit({ type: 'fetch-finished', jwksUri: this.uri, trigger: reason, outcome: 'not-modified', status: 304, durationMs: now - startedAt });
        return;
      }
      // An unchanged set keeps its parsed keys (and every verified token they back).
      let parsed: KeyIndex | undefined;
      if (result.jwks !== this.state.jwks) {
        parsed = parseJwkSet(result.jwks, this.issuer.algorithms, maxKeys);
        if (parsed.rejected.length > 0) {
          this.emit({ type: 'keys-skipped', jwksUri: this.uri, count: parsed.rejected.length, reasons: [...new Set(parsed.rejected)] });
        }
      }
      // Replace the whole set at once: a key absent from a good new set stops verifying now.
      this.fetchCount++;
      this.commit(onFetchSuccess(this.state, now, this.policy, result, ctx()), { parsed, origin: 'fetch' });
      this.emit({ type: 'fetch-finished', jwksUri: this.uri, trigger: reason, outcome: 'ok', status: 200, durationMs: now - startedAt });
    } catch (err) {
      // Cancelled by close(): nothing to record, nothing to log.
      if (this.closed) return;
      const e = err instanceof JwksFetchError ? err : new JwksFetchError(`JWKS fetch failed: ${(err as Error)?.name ?? 'error'}`, 'network');
      // A discovered location that now answers 404, 410 or a redirect may have moved: ask the document again.
      if (this.discovered !== null && (e.kind === 'redirect' || e.status === 404 || e.status === 410)) this.rediscover = true;
      this.fetchCount++;
      this.commit(
        onFetchFailure(
          this.state,
          this.clock.now(),
          this.policy,
          { code: e.code, kind: e.kind, message: e.message, status: e.status, retryAfterMs: e.retryAfterMs },
          this.random(),
          ctx(),
        ),
      );
      const now = this.clock.now();
      this.emit({
        type: 'fetch-finished',
        jwksUri: this.uri,
        trigger: reason,
        outcome: 'failed',
        status: e.status,
        durationMs: now - startedAt,
        error: { code: e.code, kind: e.kind, message: e.message },
        nextAttemptInMs: Math.max(0, this.state.notBefore - now),
      });
      if (isUsable(this.state, now, this.policy)) this.emit({ type: 'stale-served', jwksUri: this.uri, reason: 'fetch-failed', ageMs: this.state.fetchedAt === null ? null : now - this.state.fetchedAt });
    }
  }

  /**
   * Where to fetch the keys: the configured `jwksUri`, else the one the issuer's discovery document
   * names. The document is read at the first fetch and again when it is older than `cache.maxTtlMs`
   * or the keys answered as if they had moved; it is read inside the key set's own fetch, so its
   * failures get the same backoff, `Retry-After` and last-known-good as the keys. If a re-read
   * fails, the `jwks_uri` it gave before is used, and the document is not asked again for a
   * cooldown (or its `Retry-After`).
   */
  private async jwksLocation(): Promise<string> {
    if (this.issuer.jwksUri !== null) return this.issuer.jwksUri;
    const now = this.clock.now();
    const known = this.discovered;
    if (known !== null && (now < this.discoveryNotBefore || (!this.rediscover && now - known.at < this.policy.maxTtlMs))) return known.jwksUri;
    if (this.discover === null) throw new JwksFetchError('no jwksUri configured and no discovery available', 'discovery');
    try {
      const { timeoutMs, maxResponseBytes } = this.options.fetch;
      const afterFailure = this.rediscover;
      const found = await this.discover({
        issuer: this.issuer.issuer,
        timeoutMs,
        maxResponseBytes,
        allowedJwksHosts: this.issuer.allowedJwksHosts,
        now,
        signal: this.shutdown.signal,
        // Once a document has answered, only it is read again (see DiscoveryRequest.only).
        only: known?.document,
      });
      if (this.closed) throw new JwksFetchError('discovery cancelled: the key set is shutting down', 'network');
      const at = this.clock.now();
      this.discovered = { jwksUri: found.jwksUri, at, document: known?.document ?? found.document };
      this.rediscover = false;
      if (known !== null && known.jwksUri === found.jwksUri) {
        // Read because the keys failed, and the document still names the location that failed:
        // reading it again before the cooldown would double the requests of every retry. (A
        // routine re-read past maxTtlMs pauses nothing: a 404 right after it must still re-read.)
        if (afterFailure) this.discoveryNotBefore = at + this.policy.cooldownMs;
      } else if (known !== null) {
        this.emit({ type: 'jwks-uri-changed', jwksUri: uriForLog(found.jwksUri), previous: this.uri });
      }
      this.uri = uriForLog(found.jwksUri);
      return found.jwksUri;
    } catch (err) {
      if (known === null || this.closed) throw err;
      const retryAfterMs = err instanceof JwksFetchError ? Math.min(err.retryAfterMs ?? 0, this.policy.maxRetryAfterMs) : 0;
      this.discoveryNotBefore = this.clock.now() + Math.max(this.policy.cooldownMs, retryAfterMs);
      this.emit({ type: 'discovery-failed', jwksUri: this.uri, message: err instanceof JwksFetchError ? err.message : 'discovery failed' });
      return known.jwksUri;
    }
  }

  /**
   * The one way the state changes: re-derives the lookup index when the raw set or the revoked
   * kids changed, persists a newly fetched set, and re-arms the background timer.
   */
  private commit(next: KeySetState, change: { parsed?: KeyIndex; persist?: boolean; origin?: 'fetch' | 'store' | 'watch' } = {}): void {
    const prev = this.state;
    // A raw set that changed without a parse in hand (one pushed by the store) is parsed here,
    // before anything changes: a set that does not parse throws and leaves the state as it was.
    const parsed = change.parsed ?? (next.jwks !== prev.jwks ? this.parse(next.jwks) : undefined);
    this.state = next;
    const before = this.parsed;
    if (parsed !== undefined) this.parsed = parsed;
    if (parsed !== undefined || next.revokedKids !== prev.revokedKids) {
      this.revoked = new Set(next.revokedKids);
      this.index = this.revoked.size === 0 ? this.parsed : new KeyIndex(this.parsed.keys.filter((k) => k.kid === undefined || !this.revoked.has(k.kid)), this.parsed.rejected);
    }
    if (parsed !== undefined && parsed !== before && next.jwks !== prev.jwks) this.emitChanged(before, parsed, change.origin ?? 'fetch');
    // A fleet writes through `FleetMember.write` (merged with other processes' changes), not here.
    if ((change.persist ?? true) && this.fleet === null && next.fetchedAt !== prev.fetchedAt) this.save();
    // While a fetch runs, its end re-arms the timer.
    if (this.flight === null) this.schedule();
  }

  /** Delivers an event, with this key set's issuer, to every listener; a listener's throw never reaches the key set. */
  private emit(body: JwksAuthEventBody): void {
    if (this.listeners.length === 0) return;
    const event = { ...body, issuer: this.issuer.issuer };
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // A broken metrics or log sink must not break key lookups.
      }
    }
  }

  private emitChanged(before: KeyIndex, after: KeyIndex, origin: 'fetch' | 'store' | 'watch'): void {
    if (this.listeners.length === 0) return;
    const was = new Set(before.kids());
    const now = new Set(after.kids());
    const kidsAdded = [...now].filter((k) => !was.has(k));
    const kidsRemoved = [...was].filter((k) => !now.has(k));
    this.emit({ type: 'key-set-changed', jwksUri: this.uri, origin, kidsAdded, kidsRemoved, keyCount: after.size });
  }

  private parse(jwks: string | null): KeyIndex {
    return jwks === null ? KeyIndex.EMPTY : parseJwkSet(jwks, this.issuer.algorithms, this.options.fetch.maxKeys);
  }

  /** After a failed or slow warm-up: serve the last good set the store holds if it is still within maxStaleMs. */
  private async restoreFromStore(): Promise<void> {
    let stored: KeySetState | null;
    try {
      stored = await this.store.load(this.id);
    } catch {
      stored = null;
    }
    const now = this.clock.now();
    // The fetch may have answered while the store was read: a fetched set beats any stored one.
    if (this.state.jwks !== null || stored === null || stored.jwks === null || stored.fetchedAt === null) return;
    if (now >= stored.freshUntil + this.policy.maxStaleMs) {
      this.emit({ type: 'store-not-used', jwksUri: this.uri, reason: 'older-than-max-stale' });
      return;
    }
    let parsed: KeyIndex;
    try {
      parsed = this.parse(stored.jwks);
    } catch {
      this.emit({ type: 'store-not-used', jwksUri: this.uri, reason: 'unusable-key-set' });
      return;
    }
    const snapshot = { jwks: stored.jwks, fetchedAt: stored.fetchedAt, etag: stored.etag, freshUntil: stored.freshUntil };
    this.commit(onSnapshotRestored(this.state, snapshot), { parsed, persist: false, origin: 'store' });
    this.emit({ type: 'store-restored', jwksUri: this.uri, keyCount: this.index.size, ageMs: now - snapshot.fetchedAt });
  }

  /** Save the state, off the request path; a failed save is logged, never fatal. */
  private save(): void {
    if (this.closed) return;
    const state = this.state;
    if (state.jwks === null || state.fetchedAt === null) return;
    this.storeWrite = this.storeWrite
      .then(() => this.store.save(this.id, state))
      .catch((err: unknown) => {
        this.emit({ type: 'store-save-failed', jwksUri: this.uri, code: String((err as { code?: string })?.code ?? 'error') });
      });
  }

  /** (Re)arm the single background timer from the current state. */
  private schedule(): void {
    if (this.closed) return;
    const now = this.clock.now();
    const at = nextRefreshAt(this.state, now, this.policy, this.random());
    if (this.timer !== null && this.scheduledAt === at) return;
    this.cancelTimer();
    this.scheduledAt = at;
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      this.scheduledAt = null;
      if (!this.closed) this.startFetch('background');
    }, Math.max(0, at - now));
  }

  private cancelTimer(): void {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    this.scheduledAt = null;
  }
}
