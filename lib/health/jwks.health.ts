import { Injectable } from '@nestjs/common';
import { JwksCacheService } from '../services/jwks-cache.service.js';
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

/**
 * Terminus health indicator: up while a usable key set is held (fresh, or stale within
 * `maxStaleMs`), down with the last error, the set's age and key count when none is.
 *
 * ```ts
 * @Get('health') @HealthCheck()
 * check() { return this.health.check([() => this.jwks.isHealthy()]); }
 * ```
 */
@Injectable()
export class JwksHealthIndicator {
  constructor(private readonly cache: JwksCacheService) {}

  async isHealthy<const Key extends string = 'jwks'>(key: Key = 'jwks' as Key): Promise<JwksHealthIndicatorResult<Key>> {
    const { HealthIndicatorService } = await loadTerminus();
    const indicator = new HealthIndicatorService().check(key);
    const s = this.cache.getState();
    const details = {
      phase: s.phase,
      keyCount: s.keyCount,
      // A count, not the kids: health routes are usually public.
      revokedKeyCount: s.revokedKids.length,
      ageMs: s.ageMs,
      consecutiveFailures: s.consecutiveFailures,
      nextAttemptAt: s.nextAttemptAt,
      lastError: s.lastError ? { kind: s.lastError.kind, status: s.lastError.status, message: s.lastError.message, at: s.lastError.at } : null,
      fetchCount: s.fetchCount,
      notModifiedCount: s.notModifiedCount,
    };
    return s.phase === 'fresh' || s.phase === 'stale' ? indicator.up(details) : indicator.down(details);
  }
}
