/**
 * What the rotation drill does, as data: the phases in order, how long each lasts and the cache
 * timings the sample app runs with. Timings are compressed (a TTL of seconds, not minutes) so every
 * behaviour a production rotation shows over an hour happens within the drill; `--short` compresses
 * further so CI can run it in under a minute. Nothing here does I/O.
 */

export type PhaseId = 'cold-start' | 'steady' | 'planned-rotation' | 'unannounced-rotation' | 'issuer-down' | 'rate-limited' | 'revoke';

export interface PhaseSpec {
  readonly id: PhaseId;
  /** The label in the progress lines, the table and the chart. */
  readonly title: string;
  /** The label on the chart's band, short enough to fit it. */
  readonly label: string;
  /** How long the phase drives traffic (cold start: until every instance is ready, not timed). */
  readonly durationMs: number;
}

export interface DrillPlan {
  readonly short: boolean;
  /** The sample app's `cache` option (JWKS_CACHE): compressed, so refreshes and cooldowns fit the phases. */
  readonly cache: {
    readonly ttlMs: number;
    readonly minTtlMs: number;
    readonly refreshAheadMs: number;
    readonly cooldownMs: number;
    readonly backoffBaseMs: number;
    readonly backoffMaxMs: number;
    readonly maxRetryAfterMs: number;
  };
  /** Valid tokens per second over all instances, the whole drill long. */
  readonly validRate: number;
  /** Made-up kids per second during the unannounced rotation. */
  readonly floodRate: number;
  /** Tokens per second signed with the key that gets revoked, during the revoke phase. */
  readonly leakedRate: number;
  /** After publishing the next key, how long before signing with it (longer than a TTL: every cache has refreshed). */
  readonly publishLeadMs: number;
  /** In the unannounced rotation, how long the flood runs before the IdP switches keys. */
  readonly floodLeadMs: number;
  /** The 429's `x-ratelimit-reset`, this long after the phase starts. */
  readonly rateLimitForMs: number;
  /** In the revoke phase, how long the leaked key's tokens are accepted before the notice. */
  readonly revokeAfterMs: number;
  readonly phases: readonly PhaseSpec[];
}

/**
 * `short`: about 36 s of traffic, so `npm run drill -- --short` (build included) ends within a
 * minute for CI. The full drill stretches every timing to 2.5× the base (about 110 s), closer to a
 * real IdP's ratios (the cooldown a fraction of the TTL, an outage several TTLs long).
 */
export function drillPlan(short: boolean): DrillPlan {
  const k = short ? 0.8 : 2.5;
  const ms = (value: number) => Math.round(value * k);
  const cache = {
    ttlMs: ms(4_000),
    minTtlMs: ms(1_000),
    refreshAheadMs: ms(1_000),
    cooldownMs: ms(3_000),
    backoffBaseMs: 250,
    backoffMaxMs: ms(2_000),
    maxRetryAfterMs: ms(10_000),
  };
  return {
    short,
    cache,
    validRate: short ? 100 : 200,
    floodRate: short ? 400 : 800,
    leakedRate: short ? 20 : 40,
    publishLeadMs: cache.ttlMs + ms(1_500),
    floodLeadMs: ms(1_000),
    rateLimitForMs: ms(5_000),
    revokeAfterMs: ms(1_500),
    phases: [
      { id: 'cold-start', title: 'cold start', label: 'cold start', durationMs: 0 },
      { id: 'steady', title: 'steady traffic', label: 'steady', durationMs: ms(4_000) },
      { id: 'planned-rotation', title: 'next key published, then rotated to', label: 'planned rotation', durationMs: cache.ttlMs + ms(1_500) + ms(3_000) },
      { id: 'unannounced-rotation', title: 'rotation without notice + unknown-kid flood', label: 'unannounced + flood', durationMs: ms(1_000) + cache.cooldownMs + ms(3_000) },
      { id: 'issuer-down', title: 'issuer down', label: 'issuer down', durationMs: cache.ttlMs * 2 + ms(2_000) },
      { id: 'rate-limited', title: 'issuer answers 429 + x-ratelimit-reset', label: '429', durationMs: ms(5_000) + ms(3_000) },
      { id: 'revoke', title: 'key revoked through the webhook', label: 'revoke', durationMs: ms(1_500) + ms(3_000) },
    ],
  };
}
