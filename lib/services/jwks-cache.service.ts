import type { KeyObject } from 'node:crypto';
import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { JWKS_CLOCK, JWKS_DEFAULTS, JWKS_FETCHER, JWKS_RESOLVED_OPTIONS } from '../jwks-auth.constants.js';
import {
  JwksFetchError,
  KeyCoolingDownError,
  KeyNotFoundError,
  KeySetUnavailableError,
  type JwksFetchErrorKind,
  type JwtVerificationError,
} from '../errors/jwks.errors.js';
import type { ResolvedJwksOptions } from '../interfaces/jwks-auth-options.interface.js';
import type { JwksFetcher } from '../fetch/jwks.fetcher.js';
import { KeyIndex, parseJwkSet, type VerificationKey } from '../verify/jwk-set.parser.js';
import { readSnapshot, writeSnapshot } from '../store/key-set-snapshot.store.js';
import type { Clock, TimerHandle } from '../cache/clock.js';
import { initialKeySetState, type KeySetError, type KeySetState } from '../cache/key-set.state.js';
import {
  decideLookup,
  isCoolingDown,
  nextRefreshAt,
  onFetchFailure,
  onFetchStart,
  onFetchSuccess,
  onInvalidate,
  onNotModified,
  onSnapshotRestored,
  phaseOf,
  servesFromMemory,
  type KeySetPhase,
  type KeySetPolicyOptions,
  type LookupDecision,
} from '../cache/key-set.policy.js';

/** A read-only view of the cache, for callers, health and metrics. */
export interface JwksCacheState {
  /** Key ids of the held set (may be sensitive in logs; fine in a health body you protect). */
  kids: string[];
  keyCount: number;
  rejectedKeyCount: number;
  phase: KeySetPhase;
  fresh: boolean;
  coolingDown: boolean;
  fetchedAt: number | null;
  ageMs: number | null;
  freshUntil: number | null;
  nextRefreshAt: number | null;
  nextAttemptAt: number | null;
  consecutiveFailures: number;
  lastError: KeySetError | null;
  fetchCount: number;
  notModifiedCount: number;
}

/**
 * Holds one issuer's key set in memory and carries out what the pure policy
 * (`key-set.policy.ts`) decides: single-flight fetches, cooldown-limited refetch on unknown kids,
 * background refresh ahead of expiry, backoff after failures, last-known-good through outages.
 */
// Fits the verifier's `KeyResolver` (checked where the module constructs `JwtVerifier`) without
// saying `implements`: those methods are internal, so they are stripped from the shipped
// declarations, which would then not compile.
@Injectable()
export class JwksCacheService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('JwksAuth');
  private readonly policy: KeySetPolicyOptions;
  private state: KeySetState = initialKeySetState();
  private index: KeyIndex = KeyIndex.EMPTY;
  private inFlight: Promise<void> | null = null;
  private timer: TimerHandle | null = null;
  private scheduledAt: number | null = null;
  private closed = false;
  /** Snapshot writes run one after another, so an older set never lands over a newer one. */
  private snapshotWrite: Promise<void> = Promise.resolve();

  constructor(
    @Inject(JWKS_RESOLVED_OPTIONS) private readonly options: ResolvedJwksOptions,
    @Inject(JWKS_CLOCK) private readonly clock: Clock,
    @Inject(JWKS_FETCHER) private readonly fetcher: JwksFetcher,
  ) {
    this.policy = {
      ...options.cache,
      maxRetryAfterMs: JWKS_DEFAULTS.maxRetryAfterMs,
      backoffBaseMs: JWKS_DEFAULTS.backoffBaseMs,
      backoffMaxMs: JWKS_DEFAULTS.backoffMaxMs,
    };
  }

  /** Warm the cache before the application serves its first request. */
  async onApplicationBootstrap(): Promise<void> {
    await this.runFetch('warm-up');
    if (this.state.jwks === null) await this.restoreSnapshot();
    if (this.state.jwks === null) {
      const message = `JWKS warm-up failed (${this.state.lastError?.message ?? 'unknown error'}); retrying in the background`;
      if (this.options.failOnWarmupError) {
        const last = this.state.lastError;
        throw new JwksFetchError(`JWKS warm-up failed: ${last?.message ?? 'unknown error'}`, (last?.kind ?? 'network') as JwksFetchErrorKind, last?.status);
      }
      this.logger.error(message);
    }
  }

  /** Clears the timer and waits for a pending snapshot write, so a graceful stop keeps the last set. */
  async onApplicationShutdown(): Promise<void> {
    this.closed = true;
    this.cancelTimer();
    await this.snapshotWrite;
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

  /** @internal Candidate keys for a token; used by `JwtVerifier`. */
  async resolveKeys(kid: string | undefined, alg: string | undefined): Promise<readonly VerificationKey[]> {
    let decision = this.decide(kid, false);
    if (decision.action === 'fetch' || decision.action === 'join') {
      if (decision.action === 'fetch') await this.runFetch(decision.reason);
      else await this.inFlight;
      decision = this.decide(kid, true);
    }
    if (decision.action === 'hit') {
      const found = this.index.candidates(kid, alg ?? '');
      if (found && found.length > 0) return found;
      throw new KeyNotFoundError('no key in the set matches the token');
    }
    if (decision.action === 'fail') throw this.failure(decision);
    // After a fetch the policy answers only hit or fail; anything else is refused, never waited on twice.
    throw new KeyNotFoundError('no key in the set matches the token');
  }

  /**
   * @internal The synchronous fast path of `resolveKeys`: the candidates when the held set can
   * answer without any I/O (usable, not invalidated, kid known), else undefined.
   */
  peekKeys(kid: string | undefined, alg: string): readonly VerificationKey[] | undefined {
    return servesFromMemory(this.state, this.clock.now(), this.policy) ? this.index.candidates(kid, alg) : undefined;
  }

  /** @internal Whether a key may still verify: part of the current, usable, not invalidated set. */
  isKeyCurrent(key: VerificationKey): boolean {
    return servesFromMemory(this.state, this.clock.now(), this.policy) && this.index.contains(key);
  }

  /** Fetch now, bypassing the unknown-kid cooldown, sharing any fetch already in flight. */
  async refresh(): Promise<JwksCacheState> {
    await (this.inFlight ?? this.runFetch('manual'));
    return this.getState();
  }

  /** The current set stops being fresh; the next lookup waits for a refetch. */
  invalidate(): void {
    this.state = onInvalidate(this.state, this.clock.now());
    this.schedule();
  }

  getState(): JwksCacheState {
    const now = this.clock.now();
    const s = this.state;
    const phase = phaseOf(s, now, this.policy);
    return {
      kids: this.index.kids(),
      keyCount: this.index.size,
      rejectedKeyCount: this.index.rejected.length,
      phase,
      fresh: phase === 'fresh' && !s.mustRevalidate,
      coolingDown: isCoolingDown(s, now, this.policy),
      fetchedAt: s.fetchedAt,
      ageMs: s.fetchedAt === null ? null : now - s.fetchedAt,
      freshUntil: s.jwks === null ? null : s.freshUntil,
      nextRefreshAt: this.scheduledAt,
      nextAttemptAt: s.notBefore > now ? s.notBefore : null,
      consecutiveFailures: s.failures,
      lastError: s.lastError,
      fetchCount: s.fetchCount,
      notModifiedCount: s.notModifiedCount,
    };
  }

  private decide(kid: string | undefined, afterFetch: boolean): LookupDecision {
    return decideLookup(this.state, this.clock.now(), this.policy, this.index.has(kid), this.inFlight !== null, afterFetch);
  }

  private failure(decision: Extract<LookupDecision, { action: 'fail' }>): JwtVerificationError {
    switch (decision.reason) {
      case 'cooldown':
        return new KeyCoolingDownError('unknown kid inside the refetch cooldown');
      case 'backoff':
        return new KeyNotFoundError('unknown kid while the JWKS endpoint is backing off');
      case 'not-found':
        return new KeyNotFoundError('no key in the refreshed set matches the token');
      case 'unavailable':
        return new KeySetUnavailableError('no usable key set: the JWKS could not be fetched');
    }
  }

  /** Single flight: every caller while a fetch runs shares it. */
  private runFetch(reason: string): Promise<void> {
    if (this.inFlight) return this.inFlight;
    this.state = onFetchStart(this.state, this.clock.now(), reason);
    this.inFlight = this.fetchOnce().finally(() => {
      this.inFlight = null;
      this.schedule();
    });
    return this.inFlight;
  }

  private async fetchOnce(): Promise<void> {
    const { timeoutMs, maxResponseBytes, maxKeys } = this.options.fetch;
    try {
      const result = await this.fetcher({
        uri: this.options.jwksUri,
        etag: this.state.jwks === null ? null : this.state.etag,
        timeoutMs,
        maxResponseBytes,
        now: this.clock.now(),
      });
      const now = this.clock.now();
      if (result.kind === 'not-modified') {
        this.state = onNotModified(this.state, now, this.policy, result);
        this.saveSnapshot();
        return;
      }
      // An unchanged set keeps its parsed keys (and every verified token they back).
      if (result.jwks !== this.state.jwks) {
        const index = parseJwkSet(result.jwks, this.options.algorithms, maxKeys);
        if (index.rejected.length > 0) {
          this.logger.warn(`JWKS: ${index.rejected.length} key(s) skipped (${[...new Set(index.rejected)].join(', ')})`);
        }
        // Replace the whole set at once: a key absent from a good new set stops verifying now.
        this.index = index;
      }
      this.state = onFetchSuccess(this.state, now, this.policy, result);
      this.saveSnapshot();
    } catch (err) {
      const e = err instanceof JwksFetchError ? err : new JwksFetchError(`JWKS fetch failed: ${(err as Error)?.name ?? 'error'}`, 'network');
      this.state = onFetchFailure(
        this.state,
        this.clock.now(),
        this.policy,
        { code: e.code, kind: e.kind, message: e.message, status: e.status, retryAfterMs: e.retryAfterMs },
        Math.random(),
      );
      this.logger.warn(`${e.message}; next attempt in ${this.state.notBefore - this.clock.now()} ms`);
    }
  }

  /** After a failed warm-up: serve the last good set from disk if it is still within maxStaleMs. */
  private async restoreSnapshot(): Promise<void> {
    const path = this.options.cache.snapshotPath;
    if (path === null) return;
    const snapshot = await readSnapshot(path, this.options.jwksUri, this.options.fetch.maxResponseBytes * 2);
    const now = this.clock.now();
    if (snapshot === null || now >= snapshot.freshUntil + this.policy.maxStaleMs) {
      this.logger.warn('JWKS snapshot: none usable (missing, unreadable, for another URI, or older than maxStaleMs)');
      return;
    }
    try {
      this.index = parseJwkSet(snapshot.jwks, this.options.algorithms, this.options.fetch.maxKeys);
    } catch {
      this.logger.warn('JWKS snapshot: its key set is not usable');
      return;
    }
    this.state = onSnapshotRestored(this.state, snapshot);
    this.schedule();
    this.logger.warn(`JWKS snapshot: serving ${this.index.size} key(s) fetched ${Math.round((now - snapshot.fetchedAt) / 1000)} s ago until the IdP answers`);
  }

  /** Persist the last good set, off the request path; a failed write is logged, never fatal. */
  private saveSnapshot(): void {
    const path = this.options.cache.snapshotPath;
    const { jwks, fetchedAt, etag, freshUntil } = this.state;
    if (path === null || jwks === null || fetchedAt === null) return;
    const snapshot = { version: 1 as const, jwksUri: this.options.jwksUri, jwks, fetchedAt, etag, freshUntil };
    this.snapshotWrite = this.snapshotWrite
      .then(() => writeSnapshot(path, snapshot))
      .catch((err: unknown) => {
        this.logger.warn(`JWKS snapshot: could not be written (${(err as { code?: string })?.code ?? 'error'})`);
      });
  }

  /** (Re)arm the single background timer from the current state. */
  private schedule(): void {
    if (this.closed) return;
    const now = this.clock.now();
    const at = nextRefreshAt(this.state, now, this.policy, Math.random());
    if (this.timer !== null && this.scheduledAt === at) return;
    this.cancelTimer();
    this.scheduledAt = at;
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      this.scheduledAt = null;
      if (!this.closed) void this.runFetch('background');
    }, Math.max(0, at - now));
  }

  private cancelTimer(): void {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    this.scheduledAt = null;
  }
}
