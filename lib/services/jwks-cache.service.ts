import type { KeyObject } from 'node:crypto';
import { Inject, Injectable, Logger, Optional, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { JWKS_CLOCK, JWKS_EVENT_LISTENERS, JWKS_FETCHER, JWKS_RESOLVED_OPTIONS, JWKS_STORE } from '../jwks-auth.constants.js';
import { loggingListener, type JwksAuthEventListener } from '../events/jwks-auth.events.js';
import type { ResolvedJwksOptions } from '../interfaces/jwks-auth-options.interface.js';
import type { JwksFetcher } from '../fetch/jwks.fetcher.js';
import type { VerificationKey } from '../verify/jwk-set.parser.js';
import type { Clock } from '../cache/clock.js';
import type { KeySetStore } from '../store/key-set.store.js';
import { defaultKeySetStore } from '../store/default-key-set.store.js';
import { KeySetSource, type JwksCacheState, type JwksRefreshOptions } from '../cache/key-set.source.js';

export type { JwksCacheState, JwksRefreshOptions } from '../cache/key-set.source.js';
export { kidFingerprint } from '../events/kid.fingerprint.js';

/**
 * The Nest shell of one issuer's key set: builds a `KeySetSource` from the resolved options,
 * clock, fetcher, store (`JWKS_STORE`) and event listeners (`JWKS_EVENT_LISTENERS`), warms it at bootstrap, stops it at shutdown, and delegates the rest.
 * See `KeySetSource` for how the cache behaves.
 */
// Fits the verifier's `KeyResolver` without saying `implements`: those methods are internal, so
// they are stripped from the shipped declarations, which would then not compile. The module hands
// the verifier the source itself, so the per-request path pays no extra call here.
@Injectable()
export class JwksCacheService implements OnApplicationBootstrap, OnApplicationShutdown {
  /** @internal The key set this service wraps; the verifier resolves keys on it directly. */
  readonly source: KeySetSource;

  constructor(
    @Inject(JWKS_RESOLVED_OPTIONS) options: ResolvedJwksOptions,
    @Inject(JWKS_CLOCK) clock: Clock,
    @Inject(JWKS_FETCHER) fetcher: JwksFetcher,
    // Optional so the service can be built by hand (tests, scripts): the options' store then.
    @Optional() @Inject(JWKS_STORE) store?: KeySetStore,
    @Optional() @Inject(JWKS_EVENT_LISTENERS) listeners?: readonly JwksAuthEventListener[],
  ) {
    const log = new Logger('JwksAuth');
    this.source = new KeySetSource({
      options,
      clock,
      fetcher,
      store: store ?? defaultKeySetStore(options, log),
      listeners: listeners ?? [loggingListener(log)],
    });
  }

  /**
   * Warm the cache before the application serves its first request. Startup waits at most
   * `warmupTimeoutMs`; a slower fetch carries on in the background.
   */
  onApplicationBootstrap(): Promise<void> {
    return this.source.start();
  }

  /** Clears the timer and waits for a pending snapshot write, so a graceful stop keeps the last set. */
  onApplicationShutdown(): Promise<void> {
    return this.source.close();
  }

  /**
   * The verification key for `kid`. A cached key resolves without I/O; an unknown kid refetches
   * the whole set at most once per cooldown (one shared fetch for all callers) and inside the
   * cooldown fails fast with `KeyCoolingDownError`.
   */
  getSigningKey(kid: string): Promise<KeyObject> {
    return this.source.getSigningKey(kid);
  }

  /** @internal Candidate keys for a token; used by `JwtVerifier`. */
  resolveKeys(kid: string | undefined, alg: string | undefined): Promise<readonly VerificationKey[]> {
    return this.source.resolveKeys(kid, alg);
  }

  /**
   * @internal The synchronous fast path of `resolveKeys`: the candidates when the held set can
   * answer without any I/O (usable, not invalidated, kid known), else undefined.
   */
  peekKeys(kid: string | undefined, alg: string): readonly VerificationKey[] | undefined {
    return this.source.peekKeys(kid, alg);
  }

  /** @internal Whether a key may still verify: part of the current, usable, not invalidated set, not revoked. */
  isKeyCurrent(key: VerificationKey): boolean {
    return this.source.isKeyCurrent(key);
  }

  /**
   * Fetch the set now, bypassing the unknown-kid cooldown. Resolves with a state that reflects a
   * fetch started after this call (a background or unknown-kid fetch already in flight may predate
   * it, so it is waited out first); concurrent `refresh()` calls share one fetch. A failed fetch
   * resolves too: see `lastError`.
   * @throws JwksRefreshDeferredError while the IdP's `Retry-After` / `x-ratelimit-reset` or the
   *   backoff says to wait, unless `{ force: true }`: nothing is fetched then.
   */
  refresh(options: JwksRefreshOptions = {}): Promise<JwksCacheState> {
    return this.source.refresh(options);
  }

  /**
   * Stop trusting the current set until it is confirmed: the next verification waits for a fetch
   * started after this call (or the background refresh makes it first). If that fetch fails, or the
   * IdP asked us to wait, the current set keeps serving as last-known-good: availability first.
   * To refuse a key at once whatever the IdP does, use `revokeKey()`.
   */
  invalidate(): void {
    this.source.invalidate();
  }

  /**
   * Emergency tool: tokens signed with `kid` are refused at once (`ERR_JWKS_KEY_REVOKED`), also
   * from the verified-token cache, whatever the IdP publishes and whether or not it is reachable,
   * until `restoreKey(kid)`. A refetch that still lists the kid does not bring it back. Held in
   * this process only (not across restarts).
   * @throws JwksArgumentError when `kid` is not a key id or the revocation list is full
   */
  revokeKey(kid: string): void {
    this.source.revokeKey(kid);
  }

  /** Undo `revokeKey(kid)`: the kid verifies again if the IdP still publishes it. */
  restoreKey(kid: string): void {
    this.source.restoreKey(kid);
  }

  getState(): JwksCacheState {
    return this.source.getState();
  }
}
