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

/** Options of `JwksHealthIndicator.isHealthy()`. */
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

/** One issuer's health details: a count of keys, never the kids (health routes are usually public). */
function detailsOf(s: JwksCacheState): Record<string, unknown> & { status: 'up' | 'down' } {
  return {
    status: s.phase === 'fresh' || s.phase === 'stale' ? 'up' : 'down',
    phase: s.phase,
    keyCount: s.keyCount,
    revokedKeyCount: s.revokedKids.length,
    ageMs: s.ageMs,
    consecutiveFailures: s.consecutiveFailures,
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
 */
@Injectable()
export class JwksHealthIndicator {
  constructor(private readonly cache: JwksCacheService) {}

  async isHealthy<const Key extends string = 'jwks'>(key: Key = 'jwks' as Key, options: JwksHealthCheckOptions = {}): Promise<JwksHealthIndicatorResult<Key>> {
    const { HealthIndicatorService } = await loadTerminus();
    const indicator = new HealthIndicatorService().check(key);
    if (options.issuer !== undefined) {
      // A removed or misspelt issuer is a down check with the reason, not a 500 from the health route.
      if (typeof options.issuer !== 'string' || !this.cache.issuers().includes(options.issuer)) {
        return indicator.down({ message: 'not a configured issuer' });
      }
      const { status, ...details } = detailsOf(this.cache.getState(options.issuer));
      return status === 'up' ? indicator.up(details) : indicator.down(details);
    }
    const states = this.cache.getStates();
    const issuers = Object.create(null) as Record<string, Record<string, unknown>>;
    let up = 0;
    for (const [issuer, state] of Object.entries(states)) {
      issuers[issuer] = detailsOf(state);
      if (issuers[issuer].status === 'up') up++;
    }
    const count = Object.keys(issuers).length;
    // No issuer configured (a multi-tenant app before its first tenant) has nothing down: up.
    const healthy = count === 0 || (options.require === 'any' ? up > 0 : up === count);
    // One issuer: its details stay at the top level, as before several issuers existed.
    const only = count === 1 ? Object.values(issuers)[0] : undefined;
    const details: Record<string, unknown> = only === undefined ? { issuers, up, down: count - up } : { ...withoutStatus(only), issuers };
    return healthy ? indicator.up(details) : indicator.down(details);
  }
}

function withoutStatus(details: Record<string, unknown>): Record<string, unknown> {
  const { status: _status, ...rest } = details;
  return rest;
}
