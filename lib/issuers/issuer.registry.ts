import { JwksArgumentError } from '../errors/jwks.errors.js';
import type { JwksAuthEvent, JwksAuthEventListener } from '../events/jwks-auth.events.js';
import type { DiscoveryFetcher } from '../fetch/discovery.fetcher.js';
import type { JwksFetcher } from '../fetch/jwks.fetcher.js';
import type { ResolvedIssuerOptions, ResolvedJwksOptions } from '../interfaces/jwks-auth-options.interface.js';
import type { KeySetStore } from '../store/key-set.store.js';
import type { Clock } from '../cache/clock.js';
import { KeySetSource } from '../cache/key-set.source.js';
import { describeIssuers, issuerRoute, type IssuerRoute, type IssuerRouter } from '../verify/issuer.route.js';

/** What every issuer's key set is built from (the module's providers). */
export interface IssuerRegistryDeps {
  options: ResolvedJwksOptions;
  clock: Clock;
  fetcher: JwksFetcher;
  discover: DiscoveryFetcher;
  store: KeySetStore;
  listeners: readonly JwksAuthEventListener[];
}

interface Entry {
  readonly source: KeySetSource;
  readonly route: IssuerRoute;
}

/**
 * Issuer → key set, in plain TypeScript: one `KeySetSource` per issuer (its own cache, cooldown,
 * backoff and health), and the router the verifier asks for a token's `iss`. Issuers are keyed by
 * their exact `iss`; each key set by issuer and JWKS URI, so a `kid` two tenants both publish
 * never lets one tenant's key verify the other's token. Bounded by `maxIssuers`.
 */
export class IssuerRegistry implements IssuerRouter {
  private readonly entries = new Map<string, Entry>();
  private union: ReadonlySet<string> = new Set();
  private description = describeIssuers([]);
  /**
   * Revocations of removed issuers (at most `maxIssuers`, oldest forgotten first): removing and
   * re-adding an issuer (the way to change its options) must not bring a revoked key back.
   */
  private readonly removedRevocations = new Map<string, readonly string[]>();
  /** Closing sources of removed issuers, so shutdown waits for them too. */
  private readonly closing = new Set<Promise<void>>();

  constructor(private readonly deps: IssuerRegistryDeps) {
    for (const issuer of deps.options.issuers) this.add(issuer);
  }

  /** Every algorithm some issuer accepts. */
  get algorithms(): ReadonlySet<string> {
    return this.union;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The per-request lookup: one `Map.get` on the token's `iss`. */
  route(iss: unknown): IssuerRoute | undefined {
    return typeof iss === 'string' ? this.entries.get(iss)?.route : undefined;
  }

  /** Computed when the issuers change, not per refusal: an unknown-`iss` flood builds no strings. */
  describe(): string {
    return this.description;
  }

  issuers(): string[] {
    return [...this.entries.keys()];
  }

  /** Whether this very key set is still served (not removed, nor replaced by a re-added one). */
  holds(source: KeySetSource): boolean {
    return this.entries.get(source.issuer.issuer)?.source === source;
  }

  has(issuer: string): boolean {
    return this.entries.has(issuer);
  }

  /**
   * The key set of `issuer`; without one, the only issuer's.
   * @throws JwksArgumentError for an issuer that is not configured, or none given while several are
   */
  source(issuer?: string): KeySetSource {
    if (issuer === undefined) {
      if (this.entries.size === 1) return this.entries.values().next().value!.source;
      throw new JwksArgumentError(
        this.entries.size === 0
          ? 'no issuer is configured'
          : `${this.entries.size} issuers are configured: pass the issuer (its exact iss) as the last argument, one of ${listIssuers(this.entries)}`,
      );
    }
    const entry = typeof issuer === 'string' ? this.entries.get(issuer) : undefined;
    if (entry === undefined) throw new JwksArgumentError(`${describeValue(issuer)} is not a configured issuer${slashHint(issuer, this.entries)}; configured: ${this.entries.size === 0 ? 'none' : listIssuers(this.entries)}`);
    return entry.source;
  }

  sources(): KeySetSource[] {
    return [...this.entries.values()].map((e) => e.source);
  }

  /**
   * Adds an issuer (validated already) with a new, not yet started key set.
   * @throws JwksArgumentError when it is already configured or `maxIssuers` is reached
   */
  add(issuer: ResolvedIssuerOptions, atRuntime = false): KeySetSource {
    if (this.entries.has(issuer.issuer)) throw new JwksArgumentError(`issuer ${JSON.stringify(issuer.issuer)} is already configured`);
    const max = this.deps.options.maxIssuers;
    if (this.entries.size >= max) throw new JwksArgumentError(`at most ${max} issuers (maxIssuers); remove one first or raise maxIssuers`);
    const { options, clock, fetcher, discover, store, listeners } = this.deps;
    const source = new KeySetSource({ options, issuer, clock, fetcher, discover, store, listeners });
    const revoked = this.removedRevocations.get(issuer.issuer);
    this.removedRevocations.delete(issuer.issuer);
    for (const kid of revoked ?? []) source.revokeKey(kid);
    this.entries.set(issuer.issuer, { source, route: issuerRoute(issuer, source) });
    this.refreshUnion();
    if (atRuntime) this.announce({ type: 'issuer-added', jwksUri: source.loggedUri(), issuer: issuer.issuer });
    return source;
  }

  /**
   * Removes an issuer: its tokens are refused at once (also from the verified-token cache), its
   * timer stops and a fetch in flight is cancelled. Resolves false when it was not configured.
   */
  async remove(issuer: string, only?: KeySetSource): Promise<boolean> {
    const entry = typeof issuer === 'string' ? this.entries.get(issuer) : undefined;
    // `only`: remove it if it is still this key set (not one re-added under the same issuer since).
    if (entry === undefined || (only !== undefined && entry.source !== only)) return false;
    this.entries.delete(issuer);
    this.refreshUnion();
    const revoked = entry.source.keySetState().revokedKids;
    if (revoked.length > 0) {
      if (this.removedRevocations.size >= this.deps.options.maxIssuers) this.removedRevocations.delete(this.removedRevocations.keys().next().value!);
      this.removedRevocations.set(issuer, revoked);
    }
    this.announce({ type: 'issuer-removed', jwksUri: entry.source.loggedUri(), issuer });
    // The issuer is gone whatever the store says: a store that fails to forget it is not our caller's error.
    const closed = entry.source
      .close()
      // Re-added meanwhile: the new key set owns what the store holds under this issuer now.
      .then(() => (this.entries.has(issuer) ? undefined : this.deps.store.delete?.(entry.source.id)))
      .catch(() => undefined);
    this.closing.add(closed);
    try {
      await closed;
    } finally {
      this.closing.delete(closed);
    }
    return true;
  }

  /** Warms every key set at once; startup waits at most `warmupTimeoutMs` for all of them together. */
  async start(): Promise<void> {
    await Promise.all(this.sources().map((s) => s.start()));
  }

  async close(): Promise<void> {
    await Promise.all([...this.sources().map((s) => s.close()), ...this.closing]);
  }

  private announce(event: JwksAuthEvent): void {
    for (const listener of this.deps.listeners) {
      try {
        listener(event);
      } catch {
        // A broken sink must not break adding or removing an issuer.
      }
    }
  }

  private refreshUnion(): void {
    this.description = describeIssuers([...this.entries.keys()]);
    this.union = new Set([...this.entries.values()].flatMap((e) => [...e.route.algorithms]));
    // One issuer (the usual case): its own set is the union, so the verifier skips a second check.
    if (this.entries.size === 1) this.union = this.entries.values().next().value!.route.algorithms;
  }
}

/** The first configured issuers, quoted, for a message. */
function listIssuers(entries: ReadonlyMap<string, unknown>): string {
  const names = [...entries.keys()];
  return names.slice(0, 3).map((i) => JSON.stringify(i)).join(', ') + (names.length > 3 ? `, ... (${names.length} in all)` : '');
}

/** " (it differs by a trailing slash from ...)" when that is the mistake: the usual one with issuers. */
function slashHint(issuer: unknown, entries: ReadonlyMap<string, unknown>): string {
  if (typeof issuer !== 'string') return '';
  const other = issuer.endsWith('/') ? issuer.slice(0, -1) : `${issuer}/`;
  return entries.has(other) ? ` (it differs by a trailing slash from the configured ${JSON.stringify(other)})` : '';
}

function describeValue(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value) : typeof value;
}
