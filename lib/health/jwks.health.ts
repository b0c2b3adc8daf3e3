import { Injectable } from '@nestjs/common';
import { JwksCacheService, type JwksCacheState } from '../services/jwks-cache.service.js';
import { JwksMissingDependencyError } from '../errors/jwks.errors.js';

/**
 * What `JwksHealthIndicator.isHealthy()` resolves to: Terminus's `HealthIndicatorResult<Key>`
 * written out, because `@nestjs/terminus` is an optional peer and the shipped declarations must
 * compile in an app that does not install it. It is assignable to Terminus's own type.
 */
export type JwksHealthIndicatorResult<Key extends string = 'jwks'> = Record<Key, { status: 'up' | 'down' } & Record<string, unknown>>;

type TerminusModule = typeof import('@nestjs/terminus');
let terminus: Promise<TerminusModule> | undefined;

/** @nestjs/terminus is an optional peer dependency: loaded on first use, with an install hint. */
function loadTerminus(): Promise<TerminusModule> {
  terminus ??= import('@nestjs/terminus').catch(() => {
    terminus = undefined;
    throw new JwksMissingDependencyError('@nestjs/terminus', 'JwksHealthIndicator');
  });
  return terminus;
}

/** Options of `JwksHealthIndicator.isHealthy()` and `isReady()`. */
export interface JwksHealthCheckOptions {
  /** Report only this issuer. */
  issuer?: string;
  /**
   * With several issuers: `'all'` (default) is up only while every issuer has a usable set;
   * `'any'` is up while at least one has (a readiness probe that must not take a pod out of
   * service for one tenant's broken IdP).
   */
  require?: 'all' | 'any';
}

/** Whether a state counts as up for one check. */
type UpWhen = (s: JwksCacheState) => boolean;

/** `isHealthy()`: a usable set is held now (fresh, or stale within `maxStaleMs`). */
const usableNow: UpWhen = (s) => s.phase === 'fresh' || s.phase === 'stale';
/**
 * `isReady()`: a set has been held since startup (fetched, restored from the store, or taken from
 * the fleet). `'empty'` is the only phase before one; an expired set is still one, whose requests
 * get a 503 with `Retry-After` from the app rather than no endpoint at all.
 */
const loadedOnce: UpWhen = (s) => s.phase !== 'empty';

/** One issuer's health details: a count of keys, never the kids (health routes are usually public). */
function detailsOf(s: JwksCacheState, up: UpWhen): Record<string, unknown> & { status: 'up' | 'down' } {
  return {
    status: up(s) ? 'up' : 'down',
    phase: s.phase,
    keyCount: s.keyCount,
    revokedKeyCount: s.revokedKids.length,
    ageMs: s.ageMs,
    fetching: s.fetching,
    consecutiveFailures: s.consecutiveFailures,
    // Epoch ms: when the background refresh is due, and (after failures) when the next try is allowed.
    nextRefreshAt: s.nextRefreshAt,
    nextAttemptAt: s.nextAttemptAt,
    lastError: s.lastError ? { kind: s.lastError.kind, status: s.lastError.status, message: s.lastError.message, at: s.lastError.at } : null,
    fetchCount: s.fetchCount,
    notModifiedCount: s.notModifiedCount,
    // Fleet mode only: 'degraded' (Redis unreachable) keeps the check up; the process verifies from memory.
    ...(s.fleet === 'off' ? {} : { fleet: s.fleet }),
  };
}

/**
 * Terminus health indicator: up while a usable key set is held (fresh, or stale within
 * `maxStaleMs`), down with the last error, the set's age and key count when none is. With
 * several issuers, `issuers` holds each one's details and the status follows `require`.
 *
 * ```ts
 * @Get('health') @HealthCheck()
 * check() { return this.health.check([() => this.jwks.isHealthy()]); }
 * ```
 *
 * For Kubernetes, `isReady()` (readiness: down until the first key set is held) and `isAlive()`
 * (liveness: up while the module runs, never asking the IdP or Redis).
 */
@Injectable()
export class JwksHealthIndicator {
  constructor(private readonly cache: JwksCacheService) {}

  /** Up while a usable set is held: for a dashboard or an alert, not for a probe that restarts or unroutes pods. */
  isHealthy<const Key extends string = 'jwks'>(key: Key = 'jwks' as Key, options: JwksHealthCheckOptions = {}): Promise<JwksHealthIndicatorResult<Key>> {
    return this.check(key, options, usableNow, 'up', 'down');
  }

  /**
   * Readiness probe: down until the first usable key set is held (per issuer, following
   * `require`), then up, also through a later IdP outage: every pod would fail together, and a
   * pod with no endpoint cannot answer the 503 with `Retry-After` that tells clients when to come
   * back. Reads the held state only, never a fetch. The details are `isHealthy()`'s, with each
   * issuer's `status` saying whether it has had a set, and `ready`/`notReady` counts.
   */
  isReady<const Key extends string = 'jwks'>(key: Key = 'jwks' as Key, options: JwksHealthCheckOptions = {}): Promise<JwksHealthIndicatorResult<Key>> {
    return this.check(key, options, loadedOnce, 'ready', 'notReady');
  }

  /**
   * Liveness probe: up while the module runs. It never depends on the IdP, Redis or the key set
   * (a restart would not fix any of them, and restarting every pod at once during an IdP outage
   * is the incident, not the cure); details: how many issuers are configured.
   */
  async isAlive<const Key extends string = 'jwks'>(key: Key = 'jwks' as Key): Promise<JwksHealthIndicatorResult<Key>> {
    const { HealthIndicatorService } = await loadTerminus();
    return new HealthIndicatorService().check(key).up({ issuers: this.cache.issuers().length });
  }

  private async check<Key extends string>(key: Key, options: JwksHealthCheckOptions, up: UpWhen, upLabel: string, downLabel: string): Promise<JwksHealthIndicatorResult<Key>> {
    const { HealthIndicatorService } = await loadTerminus();
    const indicator = new HealthIndicatorService().check(key);
    if (options.issuer !== undefined) {
      // A removed or misspelt issuer is a down check with the reason, not a 500 from the health route.
      if (typeof options.issuer !== 'string' || !this.cache.issuers().includes(options.issuer)) {
        return indicator.down({ message: 'not a configured issuer' });
      }
      const { status, ...details } = detailsOf(this.cache.getState(options.issuer), up);
      return status === 'up' ? indicator.up(details) : indicator.down(details);
    }
    const states = this.cache.getStates();
    const issuers = Object.create(null) as Record<string, Record<string, unknown>>;
    let upCount = 0;
    for (const [issuer, state] of Object.entries(states)) {
      issuers[issuer] = detailsOf(state, up);
      if (issuers[issuer].status === 'up') upCount++;
    }
    const count = Object.keys(issuers).length;
    // No issuer configured (a multi-tenant app before its first tenant) has nothing down: up.
    const healthy = count === 0 || (options.require === 'any' ? upCount > 0 : upCount === count);
    // One issuer: its details stay at the top level, as before several issuers existed.
    const only = count === 1 ? Object.values(issuers)[0] : undefined;
    const details: Record<string, unknown> = only === undefined ? { issuers, [upLabel]: upCount, [downLabel]: count - upCount } : { ...withoutStatus(only), issuers };
    return healthy ? indicator.up(details) : indicator.down(details);
  }
}

function withoutStatus(details: Record<string, unknown>): Record<string, unknown> {
  const { status: _status, ...rest } = details;
  return rest;
}
