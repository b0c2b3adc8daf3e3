import { createHash } from 'node:crypto';
import { Injectable, type OnApplicationShutdown, type OnModuleDestroy } from '@nestjs/common';
import { randomOf, systemClock, type Clock, type TimerHandle } from '../cache/clock.js';
import { JwksArgumentError, TokenEndpointError, TokenEndpointThrottledError } from '../errors/jwks.errors.js';
import { CLIENT_CREDENTIALS_DEFAULTS, clientTokenLeaseTtlMs } from '../jwks-auth.constants.js';
import type { ClientAuthenticator } from './client.authentication.js';
import type { ClientCredentialsEvent, ClientCredentialsEventBody, ClientCredentialsEventListener, ClientTokenTrigger } from './client-credentials.events.js';
import { MemoryClientTokenStore, type ClientTokenEntry, type ClientTokenLease, type ClientTokenStore } from './client-token.store.js';
import type { ClientTokenCacheResult, ClientTokenMetrics } from './client-token.metrics.js';
import { requestClientToken } from './token-endpoint.client.js';
import { discoverTokenEndpoint } from './token-endpoint.discovery.js';
import { decideToken, gateAfterFailure, gateAfterSuccess, gateClosed, refreshAheadAt, stillUsable, type ClientTokenRecord, type TokenPolicyOptions } from './token.policy.js';

/** Which token a caller wants: the options' `audience` and `scope` unless given. */
export interface ClientTokenRequest {
  audience?: string;
  /** Space-separated scopes; order and duplicates do not matter (`'b a a'` is `'a b'`). */
  scope?: string;
}

/** A token as `getTokenResponse()` gives it. */
export interface ClientTokenResponse {
  accessToken: string;
  tokenType: string;
  /** Epoch ms, by this process's clock. */
  expiresAt: number;
  /** The scope the endpoint granted, when it said. */
  scope?: string;
}

/** The options after validation (`resolveClientCredentialsOptions`). */
export interface ResolvedClientCredentialsOptions {
  tokenEndpoint: string | null;
  issuer: string | null;
  clientId: string;
  authenticator: ClientAuthenticator;
  audience?: string;
  scope?: string;
  policy: TokenPolicyOptions;
  timeoutMs: number;
  maxCacheEntries: number;
  /** The secrets any text from the endpoint is scrubbed of (the client secret). */
  secrets: readonly string[];
}

/** What the service runs on besides its options; each has a default. */
export interface ClientCredentialsServiceDeps {
  clock?: Clock;
  store?: ClientTokenStore;
  listeners?: readonly ClientCredentialsEventListener[];
  metrics?: ClientTokenMetrics | null;
}

/** One (audience, scope): its working copy of the entry, its flight and its timer. */
interface Slot {
  readonly storeKey: string;
  readonly audience?: string;
  readonly scope?: string;
  /** The audience as a label ('' when none). */
  readonly label: string;
  entry: ClientTokenEntry;
  flight: Promise<void> | null;
  timer: TimerHandle | null;
  unwatch: (() => void) | null;
  /** Flights waiting for another process's result, woken by a push. */
  readonly wakers: Set<() => void>;
  /** The last request's error, for the callers that waited for it. */
  lastError: TokenEndpointError | null;
  lastInvalidatedAt: number;
  nextTrigger: ClientTokenTrigger | null;
  /** The token (its `obtainedAt`) a `client-token-stale-served` event was last sent for. */
  staleReported: number | null;
  /** Dropped from the cache (or the service closed): a request still under way ends, but nothing is scheduled for it again. */
  dropped: boolean;
}

const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

/** Space-separated scopes, sorted and deduplicated; undefined when none. */
export function normaliseScope(scope: string | undefined): string | undefined {
  if (scope === undefined) return undefined;
  const parts = [...new Set(scope.split(/[ \t\r\n]+/).filter((s) => s !== ''))].sort();
  return parts.length === 0 ? undefined : parts.join(' ');
}

/**
 * Outbound machine-to-machine tokens (OAuth 2.0 client credentials), cached so the token endpoint
 * is asked only when no token is held or the held one is within its refresh margin, and ahead of
 * time in the background. Concurrent callers for one (audience, scope) share one request; while
 * the endpoint throttles us (429 with `Retry-After`, `x-ratelimit-reset` or
 * `auth0-client-quota-limit`) or fails (backoff with jitter), no request is sent: callers with a
 * still-valid token get it, the others fail at once with `TokenEndpointThrottledError`. With a
 * shared store (`lease`, `watch`), a fleet asks once per refresh and shares the gate.
 *
 * The decisions are `token.policy.ts`'s (pure); this carries them out.
 */
@Injectable()
export class ClientCredentialsService implements OnModuleDestroy, OnApplicationShutdown {
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly store: ClientTokenStore;
  private readonly listeners: ClientCredentialsEventListener[];
  private readonly metrics: ClientTokenMetrics | null;
  private readonly slots = new Map<string, Slot>();
  private readonly leaseTtlMs: number;
  private readonly abort = new AbortController();
  private readonly issuerLabel: string;
  private endpoint: string | null;
  private discovering: Promise<string> | null = null;
  private readonly defaultKey: string;
  private closed = false;
  private readonly shutdownHooks: Array<() => unknown> = [];
  private closing: Promise<void> = Promise.resolve();

  constructor(
    private readonly options: ResolvedClientCredentialsOptions,
    deps: ClientCredentialsServiceDeps = {},
  ) {
    this.clock = deps.clock ?? systemClock;
    this.random = randomOf(this.clock);
    this.store = deps.store ?? new MemoryClientTokenStore(() => this.clock.now());
    this.listeners = [...(deps.listeners ?? [])];
    this.metrics = deps.metrics ?? null;
    if (this.metrics) this.listeners.push(this.metrics.listener);
    this.leaseTtlMs = clientTokenLeaseTtlMs(options.timeoutMs);
    this.endpoint = options.tokenEndpoint;
    this.issuerLabel = new URL(options.tokenEndpoint ?? options.issuer ?? 'http://invalid').origin;
    this.defaultKey = `${options.audience ?? ''}\n${options.scope ?? ''}`;
  }

  /** Adds an event listener (the module adds `JwksAuthEvents` when present). */
  addListener(listener: ClientCredentialsEventListener): void {
    this.listeners.push(listener);
  }

  /**
   * An access token for `audience` and `scope` (the options' by default): the cached one while it
   * is valid beyond its refresh margin, else a new one.
   * @throws TokenEndpointThrottledError when no usable token is held and the endpoint may not be asked yet
   * @throws TokenEndpointError when the request for a token failed and no usable token is held
   */
  async getToken(request: ClientTokenRequest = {}): Promise<string> {
    return (await this.tokenFor(request)).accessToken;
  }

  /** As `getToken`, with the token's type, expiry and granted scope. */
  async getTokenResponse(request: ClientTokenRequest = {}): Promise<ClientTokenResponse> {
    return this.response(await this.tokenFor(request));
  }

  /** The token to hand out for `request` (the held one, or a new one), counted in the metrics. */
  private async tokenFor(request: ClientTokenRequest): Promise<ClientTokenRecord> {
    const slot = this.slotFor(request);
    const decision = decideToken(slot.entry.token, slot.entry.gate, this.clock.now(), this.options.policy);
    switch (decision.action) {
      case 'serve':
        return this.served(slot.entry.token as ClientTokenRecord, 'hit');
      case 'serve-and-refresh':
        void this.refresh(slot, 'ahead');
        return this.served(slot.entry.token as ClientTokenRecord, 'hit');
      case 'serve-throttled':
        return this.servedStale(slot, 'throttled');
      case 'fail-throttled':
        this.metrics?.cache('miss');
        throw this.throttledError(slot, decision.retryAt, decision.source);
    }
    this.metrics?.cache('miss');
    await this.refresh(slot, slot.nextTrigger ?? 'demand');
    const now = this.clock.now();
    const after = decideToken(slot.entry.token, slot.entry.gate, now, this.options.policy);
    if (after.action === 'serve' || after.action === 'serve-and-refresh') return slot.entry.token as ClientTokenRecord;
    if (stillUsable(slot.entry.token, now, this.options.policy)) return this.servedStale(slot, 'endpoint-failed');
    if (slot.lastError) throw slot.lastError;
    if (gateClosed(slot.entry.gate, now)) throw this.throttledError(slot, slot.entry.gate.notBefore, slot.entry.gate.source);
    throw new TokenEndpointError('no token could be obtained (the service is shutting down, or the shared store gave none)', 'network');
  }

  /**
   * The downstream API refused `accessToken` (a 401): drop it, so the next `getToken` asks for a
   * new one. At most once per `minInvalidateIntervalMs` per (audience, scope), and only if it is
   * the token held: an API that refuses every token cannot turn each call into a token request.
   * Returns whether the token was dropped.
   */
  invalidate(accessToken: string, request: ClientTokenRequest = {}): boolean {
    const slot = this.slotFor(request);
    const now = this.clock.now();
    const token = slot.entry.token;
    if (token === null || token.accessToken !== accessToken) return false;
    if (now - slot.lastInvalidatedAt < CLIENT_CREDENTIALS_DEFAULTS.minInvalidateIntervalMs) return false;
    slot.lastInvalidatedAt = now;
    slot.entry = { token: null, gate: slot.entry.gate };
    slot.nextTrigger = 'invalidated';
    this.cancelTimer(slot);
    void this.store.write(slot.storeKey, slot.entry, this.entryTtl(slot.entry, now)).catch(() => undefined);
    return true;
  }

  /** Stops background refreshes, cancels requests under way and leaves the store. */
  onModuleDestroy(): void {
    this.close();
  }

  /** Nest awaits this: the store's connections are closed when the app's close resolves. */
  onApplicationShutdown(): Promise<void> {
    this.close();
    return this.closing;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.abort.abort();
    for (const slot of this.slots.values()) this.dropSlot(slot);
    this.slots.clear();
    this.closing = Promise.all(this.shutdownHooks.splice(0).map((hook) => Promise.resolve().then(hook).catch(() => undefined))).then(() => undefined);
  }

  /** @internal Runs `hook` when the service closes (the module closes the Redis store it built). */
  onShutdown(hook: () => unknown): void {
    if (this.closed) this.closing = this.closing.then(() => hook()).then(() => undefined, () => undefined);
    else this.shutdownHooks.push(hook);
  }

  private served(token: ClientTokenRecord, result: ClientTokenCacheResult): ClientTokenRecord {
    this.metrics?.cache(result);
    return token;
  }

  private servedStale(slot: Slot, reason: 'throttled' | 'endpoint-failed'): ClientTokenRecord {
    const token = slot.entry.token as ClientTokenRecord;
    // Once per token, not per call: every call in the margin is served this way while it lasts.
    if (slot.staleReported !== token.obtainedAt) {
      slot.staleReported = token.obtainedAt;
      this.emit({ type: 'client-token-stale-served', audience: slot.label, reason, remainingMs: token.expiresAt - this.clock.now() });
    }
    return this.served(token, 'stale');
  }

  private response(token: ClientTokenRecord): ClientTokenResponse {
    return { accessToken: token.accessToken, tokenType: token.tokenType, expiresAt: token.expiresAt, ...(token.scope === undefined ? {} : { scope: token.scope }) };
  }

  private throttledError(slot: Slot, retryAt: number, source: string): TokenEndpointThrottledError {
    const inMs = Math.max(0, retryAt - this.clock.now());
    return new TokenEndpointThrottledError(
      `no token for audience ${JSON.stringify(slot.label)}: the token endpoint may not be asked for ${Math.ceil(inMs / 1000)} s more (${source})`,
      retryAt,
      source,
    );
  }

  /** The slot of a request, created (and bounded) on first use. */
  private slotFor(request: ClientTokenRequest): Slot {
    const audience = request.audience ?? this.options.audience;
    if (request.scope !== undefined && typeof request.scope !== 'string') throw new JwksArgumentError('getToken: scope must be a string of space-separated scopes');
    // The options' scope is normalised once (at validation); a caller's on each call (a few short strings).
    const scope = request.scope === undefined ? this.options.scope : normaliseScope(request.scope);
    // The options' own pair (every `getToken()` without arguments) has its key built once.
    const mapKey = request.audience === undefined && request.scope === undefined ? this.defaultKey : `${audience ?? ''}\n${scope ?? ''}`;
    const found = this.slots.get(mapKey);
    if (found !== undefined) return found;
    checkRequest(audience, scope);
    if (this.closed) throw new TokenEndpointError('the client-credentials service is shut down', 'network');
    if (this.slots.size >= this.options.maxCacheEntries) {
      const [oldestKey, oldest] = this.slots.entries().next().value as [string, Slot];
      this.dropSlot(oldest);
      this.slots.delete(oldestKey);
    }
    const o = this.options;
    const storeKey = `cc:${createHash('sha256').update(`${o.tokenEndpoint ?? o.issuer}\n${o.clientId}\n${audience ?? ''}\n${scope ?? ''}`).digest('hex').slice(0, 40)}`;
    const slot: Slot = {
      storeKey,
      audience,
      scope,
      label: audience ?? '',
      entry: { token: null, gate: null },
      flight: null,
      timer: null,
      unwatch: null,
      wakers: new Set(),
      lastError: null,
      lastInvalidatedAt: -Infinity,
      nextTrigger: null,
      staleReported: null,
      dropped: false,
    };
    if (this.store.watch) {
      slot.unwatch = this.store.watch(storeKey, (entry) => {
        if (this.closed) return;
        this.adopt(slot, entry);
        for (const wake of slot.wakers) wake();
      });
    }
    this.slots.set(mapKey, slot);
    return slot;
  }

  private dropSlot(slot: Slot): void {
    slot.dropped = true;
    this.cancelTimer(slot);
    slot.unwatch?.();
    slot.unwatch = null;
    for (const wake of slot.wakers) wake();
  }

  /** One refresh per slot at a time: concurrent callers share it. Never rejects. */
  private refresh(slot: Slot, trigger: ClientTokenTrigger): Promise<void> {
    slot.flight ??= this.flight(slot, trigger)
      .catch(() => undefined)
      .finally(() => {
        slot.flight = null;
      });
    return slot.flight;
  }

  /** Whether a request is still wanted for `trigger`, given what is held now. */
  private needed(slot: Slot, trigger: ClientTokenTrigger): boolean {
    if (this.closed) return false;
    const action = decideToken(slot.entry.token, slot.entry.gate, this.clock.now(), this.options.policy).action;
    return action === 'fetch' || (trigger === 'ahead' && action === 'serve-and-refresh');
  }

  /**
   * A refresh as the store allows: with a lease, only its holder asks the endpoint (after reading
   * what the previous holder wrote), the others wait for the written result (pushed, or read every
   * `waitPollMs`) and ask themselves only once the lease must have lapsed. Without a lease (or when
   * the store cannot coordinate), this process asks on its own.
   */
  private async flight(slot: Slot, trigger: ClientTokenTrigger): Promise<void> {
    const { store } = this;
    if (!store.lease) {
      await this.adoptFromStore(slot);
      if (this.needed(slot, trigger)) await this.upstream(slot, trigger);
      return;
    }
    // Another process may have the token already (this one just started, or missed a push): no lease needed then.
    await this.adoptFromStore(slot);
    const giveUpAt = this.clock.now() + this.leaseTtlMs + 2 * CLIENT_CREDENTIALS_DEFAULTS.waitPollMs;
    for (;;) {
      if (!this.needed(slot, trigger)) return;
      let lease: ClientTokenLease | null | 'no-coordination';
      try {
        lease = await store.lease(slot.storeKey, this.leaseTtlMs);
      } catch {
        lease = 'no-coordination';
      }
      if (lease === 'no-coordination' || (lease === null && this.clock.now() >= giveUpAt)) {
        await this.upstream(slot, trigger);
        return;
      }
      if (lease === null) {
        await this.pushedOr(slot, CLIENT_CREDENTIALS_DEFAULTS.waitPollMs);
        await this.adoptFromStore(slot);
        continue;
      }
      try {
        await this.adoptFromStore(slot);
        if (this.needed(slot, trigger)) await this.upstream(slot, trigger);
      } finally {
        await lease.release().catch(() => undefined);
      }
      return;
    }
  }

  private pushedOr(slot: Slot, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        this.clock.clearTimeout(timer);
        slot.wakers.delete(wake);
        resolve();
      };
      const timer = this.clock.setTimeout(wake, ms);
      slot.wakers.add(wake);
    });
  }

  private async adoptFromStore(slot: Slot): Promise<void> {
    let entry: ClientTokenEntry | null;
    try {
      entry = await this.store.read(slot.storeKey);
    } catch {
      return;
    }
    if (entry !== null && !this.closed) this.adopt(slot, entry);
  }

  /**
   * Takes a stored entry: its token when newer than the held one (a missing one never erases
   * ours: the store may simply have dropped it), and its gate (the latest written, so a fleet
   * shares one gate).
   */
  private adopt(slot: Slot, entry: ClientTokenEntry): void {
    const held = slot.entry.token;
    const token = entry.token !== null && (held === null || entry.token.obtainedAt >= held.obtainedAt) ? entry.token : held;
    slot.entry = { token, gate: entry.gate };
    // A token from elsewhere gets this process's background refresh too (the fleet's lease keeps it to one request).
    if (token !== held || slot.timer === null) this.schedule(slot);
  }

  /** Asks the endpoint, records the outcome (token or gate) and writes it to the store. */
  private async upstream(slot: Slot, trigger: ClientTokenTrigger): Promise<void> {
    const started = this.clock.now();
    const outcome = await this.endpointUri().then(
      (tokenEndpoint) =>
        requestClientToken({
          tokenEndpoint,
          audience: slot.audience,
          scope: slot.scope,
          authenticator: this.options.authenticator,
          timeoutMs: this.options.timeoutMs,
          now: started,
          signal: this.abort.signal,
          redact: (text) => this.redact(text),
        }),
      (error: TokenEndpointError) => ({ ok: false as const, error, headers: null }),
    );
    if (this.closed) return;
    const now = this.clock.now();
    const durationMs = Math.max(0, now - started);
    slot.nextTrigger = null;
    if (outcome.ok) {
      slot.lastError = null;
      slot.entry = { token: outcome.record, gate: gateAfterSuccess(outcome.headers, now, this.options.policy) };
      this.emit({ type: 'client-token-requested', audience: slot.label, trigger, outcome: 'ok', status: outcome.status, durationMs });
    } else {
      const { error } = outcome;
      slot.lastError = error;
      const gate = gateAfterFailure(slot.entry.gate, { kind: error.kind, status: error.status, headers: outcome.headers ?? undefined }, now, this.random, this.options.policy);
      slot.entry = { token: slot.entry.token, gate };
      // The callers of this request get this error; those after it the throttled one: both say when.
      if (gate !== null && gate.notBefore > now) error.retryAt = gate.notBefore;
      this.emit({
        type: 'client-token-requested',
        audience: slot.label,
        trigger,
        outcome: error.kind,
        ...(error.status === undefined ? {} : { status: error.status }),
        durationMs,
        message: this.redact(error.message),
      });
    }
    const gate = slot.entry.gate;
    if (gate !== null) this.emit({ type: 'client-token-throttled', audience: slot.label, retryAt: gate.notBefore, source: gate.source });
    this.schedule(slot);
    try {
      await this.store.write(slot.storeKey, slot.entry, this.entryTtl(slot.entry, now));
    } catch {
      // The token is held here; the fleet's others will ask once the lease lapses. Logged by the store.
    }
  }

  /** How long the store keeps an entry: as long as its token lives or its gate holds, whichever is longer. */
  private entryTtl(entry: ClientTokenEntry, now: number): number {
    return Math.max(1_000, (entry.token?.expiresAt ?? 0) - now, (entry.gate?.notBefore ?? 0) - now);
  }

  /** The background refresh: at the refresh-ahead point, or when the gate opens if that is later; none once the token is unusable. */
  private schedule(slot: Slot): void {
    this.cancelTimer(slot);
    const token = slot.entry.token;
    const now = this.clock.now();
    // A dropped slot's request may end after the drop: scheduling then would refresh a pair no caller holds, forever.
    if (this.closed || slot.dropped || !stillUsable(token, now, this.options.policy)) return;
    let at = refreshAheadAt(token, this.options.policy);
    const gate = slot.entry.gate;
    if (gate !== null && gate.notBefore > at) at = gate.notBefore;
    slot.timer = this.clock.setTimeout(() => {
      slot.timer = null;
      if (this.closed || slot.dropped) return;
      if (this.needed(slot, 'ahead')) void this.refresh(slot, 'ahead').then(() => this.schedule(slot));
      else this.schedule(slot);
    }, Math.max(0, at - now));
  }

  private cancelTimer(slot: Slot): void {
    if (slot.timer !== null) this.clock.clearTimeout(slot.timer);
    slot.timer = null;
  }

  /** The configured token endpoint, or the issuer's, discovered once (concurrent callers share the discovery). */
  private endpointUri(): Promise<string> {
    if (this.endpoint !== null) return Promise.resolve(this.endpoint);
    this.discovering ??= discoverTokenEndpoint(this.options.issuer as string, this.options.timeoutMs, this.abort.signal).then(
      (uri) => {
        this.endpoint = uri;
        this.discovering = null;
        return uri;
      },
      (err: unknown) => {
        this.discovering = null;
        throw err;
      },
    );
    return this.discovering;
  }

  private redact(text: string): string {
    let out = text;
    for (const secret of this.options.secrets) if (secret.length >= 4) out = out.split(secret).join('***');
    return out;
  }

  private emit(body: ClientCredentialsEventBody): void {
    const event = { ...body, issuer: this.issuerLabel } as ClientCredentialsEvent;
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // A broken listener must not break a token request.
      }
    }
  }
}

/** A requested audience and scope must be short configuration strings. */
function checkRequest(audience: string | undefined, scope: string | undefined): void {
  const d = CLIENT_CREDENTIALS_DEFAULTS;
  if (audience !== undefined && (typeof audience !== 'string' || audience === '' || audience.length > d.maxAudienceChars || !/^[\x20-\x7e\u00a0-\uffff]+$/.test(audience))) {
    throw new JwksArgumentError(`getToken: audience must be a non-empty string of at most ${d.maxAudienceChars} printable characters`);
  }
  if (scope !== undefined && (scope.length > d.maxRequestedScopeChars || !scope.split(' ').every((s) => SCOPE_TOKEN.test(s)))) {
    throw new JwksArgumentError(`getToken: scope must be space-separated scope tokens (RFC 6749 §3.3), at most ${d.maxRequestedScopeChars} characters`);
  }
}
