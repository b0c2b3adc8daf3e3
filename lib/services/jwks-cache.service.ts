import type { KeyObject } from 'node:crypto';
import { Inject, Injectable, Logger, Optional, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { JWKS_CLOCK, JWKS_DISCOVERY_FETCHER, JWKS_EVENT_LISTENERS, JWKS_FETCHER, JWKS_RESOLVED_OPTIONS, JWKS_STORE } from '../jwks-auth.constants.js';
import { loggingListener, type JwksAuthEventListener } from '../events/jwks-auth.events.js';
import type { JwksIssuerOptions, ResolvedJwksOptions } from '../interfaces/jwks-auth-options.interface.js';
import type { JwksFetcher } from '../fetch/jwks.fetcher.js';
import { httpDiscoveryFetcher, type DiscoveryFetcher } from '../fetch/discovery.fetcher.js';
import type { Clock } from '../cache/clock.js';
import type { KeySetStore } from '../store/key-set.store.js';
import { defaultKeySetStore } from '../store/default-key-set.store.js';
import { resolveIssuerOptions } from '../options/options.validator.js';
import { IssuerRegistry } from '../issuers/issuer.registry.js';
import type { KeySetSource, JwksCacheState, JwksRefreshOptions } from '../cache/key-set.source.js';
import { JwksArgumentError } from '../errors/jwks.errors.js';
import { passportJwtSecretFor, type PassportJwtSecretOptions, type PassportJwtSecretProvider } from '../compat/passport-jwt.secret.js';
import { jwksClientFor, type JwksClientFacade, type JwksClientOptions } from '../compat/jwks-client.facade.js';

export type { JwksCacheState, JwksRefreshOptions } from '../cache/key-set.source.js';
export { kidFingerprint } from '../events/kid.fingerprint.js';

/**
 * The Nest shell of the module's key sets, one per issuer: builds the issuer registry from the
 * resolved options, clock, fetcher, store (`JWKS_STORE`) and event listeners
 * (`JWKS_EVENT_LISTENERS`), warms every issuer at bootstrap, stops them at shutdown, and delegates
 * the rest. See `KeySetSource` for how each key set behaves.
 *
 * Every method takes an optional issuer (the exact `iss`). With one issuer it may be left out;
 * with several, name one (`JwksArgumentError` otherwise), except `invalidate()`, which then acts
 * on all of them.
 */
@Injectable()
export class JwksCacheService implements OnApplicationBootstrap, OnApplicationShutdown {
  /** @internal Issuer → key set; the verifier routes tokens through it directly. */
  readonly registry: IssuerRegistry;
  private readonly options: ResolvedJwksOptions;
  /** The store this service made itself (none injected): it closes it (a fleet's Redis connections) at shutdown. */
  private readonly ownStore: (KeySetStore & { close?(): Promise<void> }) | null;

  constructor(
    @Inject(JWKS_RESOLVED_OPTIONS) options: ResolvedJwksOptions,
    @Inject(JWKS_CLOCK) clock: Clock,
    @Inject(JWKS_FETCHER) fetcher: JwksFetcher,
    // Optional so the service can be built by hand (tests, scripts): the options' store then.
    @Optional() @Inject(JWKS_STORE) store?: KeySetStore,
    @Optional() @Inject(JWKS_EVENT_LISTENERS) listeners?: readonly JwksAuthEventListener[],
    @Optional() @Inject(JWKS_DISCOVERY_FETCHER) discover?: DiscoveryFetcher,
  ) {
    const log = new Logger('JwksAuth');
    this.options = options;
    this.ownStore = store === undefined ? defaultKeySetStore(options, log) : null;
    this.registry = new IssuerRegistry({
      options,
      clock,
      fetcher,
      discover: discover ?? httpDiscoveryFetcher,
      store: store ?? (this.ownStore as KeySetStore),
      listeners: listeners ?? [loggingListener(log)],
    });
  }

  /** @internal The key set of the only (or the named) issuer. */
  source(issuer?: string): KeySetSource {
    return this.registry.source(issuer);
  }

  /**
   * Warm the cache before the application serves its first request: every issuer at once.
   * Startup waits at most `warmupTimeoutMs`; a slower fetch carries on in the background.
   */
  onApplicationBootstrap(): Promise<void> {
    return this.registry.start();
  }

  /** Clears the timers and waits for pending snapshot writes, so a graceful stop keeps the last sets. */
  async onApplicationShutdown(): Promise<void> {
    await this.registry.close();
    await this.ownStore?.close?.();
  }

  /** The issuers served, as their exact `iss`. */
  issuers(): string[] {
    return this.registry.issuers();
  }

  /**
   * Serve another issuer from now on (a tenant signed up): validated like `issuers[]` at startup,
   * with the module's shared options as defaults, then warmed (waiting at most `warmupTimeoutMs`).
   * Its tokens verify as soon as its keys arrive. Resolves with its state.
   * @throws JwksOptionsError for invalid options; JwksArgumentError when the issuer is already
   *   served or `maxIssuers` is reached; with `failOnWarmupError`, JwksFetchError when the warm-up
   *   failed (the issuer is then not added)
   */
  async addIssuer(issuer: JwksIssuerOptions): Promise<JwksCacheState> {
    const resolved = resolveIssuerOptions(issuer, this.options);
    const source = this.registry.add(resolved, true);
    try {
      await source.start();
    } catch (err) {
      await this.registry.remove(resolved.issuer, source);
      throw err;
    }
    // Removed while it warmed up: a caller recording the tenant as served would be wrong.
    if (!this.registry.holds(source)) throw new JwksArgumentError(`issuer ${JSON.stringify(resolved.issuer)} was removed while it was being added`);
    return source.getState();
  }

  /**
   * Stop serving an issuer: its tokens are refused at once (`ERR_JWT_ISSUER`), cached ones too;
   * its timer stops and a fetch in flight is cancelled. Resolves false if it was not served.
   */
  removeIssuer(issuer: string): Promise<boolean> {
    if (typeof issuer !== 'string') throw new JwksArgumentError('removeIssuer(issuer): issuer must be the exact issuer string');
    return this.registry.remove(issuer);
  }

  /**
   * The verification key for `kid`. A cached key resolves without I/O; an unknown kid refetches
   * the whole set at most once per cooldown (one shared fetch for all callers) and inside the
   * cooldown fails fast with `KeyCoolingDownError`.
   */
  getSigningKey(kid: string, issuer?: string): Promise<KeyObject> {
    return this.registry.source(issuer).getSigningKey(kid);
  }

  /**
   * jwks-rsa's `passportJwtSecret(options)` on this module's key sets: the recipe's passport-jwt
   * strategy runs unchanged but for this line (inject `JwksCacheService` into it). The token's `iss`
   * (read without trust) chooses among the configured issuers, an unknown one is refused with no
   * fetch; the key comes from that issuer's cache (single flight, cooldown, last-known-good).
   * jwks-rsa's tuning options are accepted and ignored; `jwksUri`, if given, must be a configured
   * issuer's and then pins that issuer.
   * @throws JwksArgumentError for an unknown option, or a `jwksUri` no configured issuer has
   */
  passportJwtSecret(options?: PassportJwtSecretOptions): PassportJwtSecretProvider {
    return passportJwtSecretFor(this.registry, this.options.maxTokenBytes, options);
  }

  /**
   * An object shaped like jwks-rsa's `JwksClient` (`getSigningKey(kid)`, `getSigningKeys()`), served
   * by one issuer's key set: `{ issuer }` or `{ jwksUri }` names it (optional with one issuer).
   * @throws JwksArgumentError for an unknown option or issuer, or a `jwksUri` no configured issuer has
   */
  jwksClient(options?: JwksClientOptions): JwksClientFacade {
    return jwksClientFor(this.registry, options);
  }

  /**
   * Fetch the set now, bypassing the unknown-kid cooldown. Resolves with a state that reflects a
   * fetch started after this call (a background or unknown-kid fetch already in flight may predate
   * it, so it is waited out first); concurrent `refresh()` calls share one fetch. A failed fetch
   * resolves too: see `lastError`. `refresh(issuer)`, `refresh(issuer, { force })` or, with one
   * issuer, `refresh({ force })`.
   * @throws JwksRefreshDeferredError while the IdP's `Retry-After` / `x-ratelimit-reset` or the
   *   backoff says to wait, unless `{ force: true }`: nothing is fetched then.
   */
  refresh(issuer?: string, options?: JwksRefreshOptions): Promise<JwksCacheState>;
  refresh(options: JwksRefreshOptions): Promise<JwksCacheState>;
  refresh(issuerOrOptions?: string | JwksRefreshOptions, options?: JwksRefreshOptions): Promise<JwksCacheState> {
    if (typeof issuerOrOptions === 'string') return this.registry.source(issuerOrOptions).refresh(options ?? {});
    return this.registry.source().refresh(issuerOrOptions ?? {});
  }

  /**
   * Stop trusting the current set until it is confirmed: the next verification waits for a fetch
   * started after this call (or the background refresh makes it first). If that fetch fails, or the
   * IdP asked us to wait, the current set keeps serving as last-known-good: availability first.
   * Without an issuer: every issuer's set. To refuse a key at once whatever the IdP does, use
   * `revokeKey()`.
   */
  invalidate(issuer?: string): void {
    if (issuer === undefined) for (const source of this.registry.sources()) source.invalidate();
    else this.registry.source(issuer).invalidate();
  }

  /**
   * Emergency tool: tokens signed with `kid` by this issuer are refused at once
   * (`ERR_JWKS_KEY_REVOKED`), also from the verified-token cache, whatever the IdP publishes and
   * whether or not it is reachable, until `restoreKey(kid)`. A refetch that still lists the kid
   * does not bring it back. Held in this process only (not across restarts).
   * @throws JwksArgumentError when `kid` is not a key id, the revocation list is full, or the issuer is not served
   */
  revokeKey(kid: string, issuer?: string): void {
    this.registry.source(issuer).revokeKey(kid);
  }

  /** Undo `revokeKey(kid)`: the kid verifies again if the IdP still publishes it. */
  restoreKey(kid: string, issuer?: string): void {
    this.registry.source(issuer).restoreKey(kid);
  }

  getState(issuer?: string): JwksCacheState {
    return this.registry.source(issuer).getState();
  }

  /** Every issuer's state, by issuer. */
  getStates(): Record<string, JwksCacheState> {
    // No prototype: an issuer named "__proto__" is an entry like any other, not the object's prototype.
    const states: Record<string, JwksCacheState> = Object.create(null) as Record<string, JwksCacheState>;
    for (const source of this.registry.sources()) states[source.issuer.issuer] = source.getState();
    return states;
  }
}
