import { CLIENT_CREDENTIALS_DEFAULTS } from '../../../lib/jwks-auth.constants';
import { quotaResetAt, rateLimitResetAt, retryAfterAt, serverWait, type ThrottleHeaders } from '../../../lib/client-credentials/throttle.headers';
import {
  DEFAULT_TOKEN_POLICY,
  decideToken,
  gateAfterFailure,
  gateAfterSuccess,
  refreshAheadAt,
  refreshDueAt,
  type ClientTokenGate,
  type ClientTokenRecord,
} from '../../../lib/client-credentials/token.policy';

const T0 = 1_800_000_000_000;
const H = 60 * 60_000;
const MIN = 60_000;
const none: ThrottleHeaders = { retryAfter: null, rateLimitReset: null, quotaLimit: null };
const token = (lifetimeMs: number, obtainedAt = T0): ClientTokenRecord => ({ accessToken: 'x', tokenType: 'Bearer', obtainedAt, expiresAt: obtainedAt + lifetimeMs });
const P = DEFAULT_TOKEN_POLICY;

describe('token policy: when to serve, refresh or refuse', () => {
  it('serves a 1-hour token until 80% of its usable life, refreshes in the background until the 5-minute margin, then fetches', () => {
    const t = token(H);
    expect(refreshDueAt(t, P)).toBe(T0 + 55 * MIN);
    expect(refreshAheadAt(t, P)).toBe(T0 + 0.8 * 55 * MIN);
    expect(decideToken(t, null, T0 + 43 * MIN, P)).toEqual({ action: 'serve' });
    expect(decideToken(t, null, T0 + 45 * MIN, P)).toEqual({ action: 'serve-and-refresh' });
    expect(decideToken(t, null, T0 + 56 * MIN, P)).toEqual({ action: 'fetch', fallback: true });
    expect(decideToken(t, null, T0 + H, P)).toEqual({ action: 'fetch', fallback: false });
    expect(decideToken(null, null, T0, P)).toEqual({ action: 'fetch', fallback: false });
  });

  it('gives a 60-s token a 30-s margin (half its life), so it is still served at first', () => {
    const t = token(60_000);
    expect(refreshDueAt(t, P)).toBe(T0 + 30_000);
    expect(decideToken(t, null, T0 + 1_000, P)).toEqual({ action: 'serve' });
    expect(decideToken(t, null, T0 + 25_000, P)).toEqual({ action: 'serve-and-refresh' });
  });

  it('serves a still-valid token while throttled, and refuses at once without one', () => {
    const gate: ClientTokenGate = { notBefore: T0 + 2 * H, attempts: 1, source: 'retry-after' };
    const t = token(H);
    expect(decideToken(t, gate, T0 + 50 * MIN, P)).toEqual({ action: 'serve' });
    expect(decideToken(t, gate, T0 + 57 * MIN, P)).toEqual({ action: 'serve-throttled', retryAt: T0 + 2 * H, source: 'retry-after' });
    expect(decideToken(t, gate, T0 + H, P)).toEqual({ action: 'fail-throttled', retryAt: T0 + 2 * H, source: 'retry-after' });
    expect(decideToken(null, gate, T0 + 2 * H, P)).toEqual({ action: 'fetch', fallback: false });
  });
});

describe('token policy: waits after a failure', () => {
  const at = (h: Partial<ThrottleHeaders>) => gateAfterFailure(null, { kind: 'status', status: 429, headers: { ...none, ...h } }, T0, () => 0.5, P);

  it('honours Retry-After in seconds and as an HTTP date', () => {
    expect(at({ retryAfter: '120' })).toMatchObject({ notBefore: T0 + 120_000, source: 'retry-after' });
    expect(at({ retryAfter: new Date(T0 + 90_000).toUTCString() })).toMatchObject({ notBefore: T0 + 90_000, source: 'retry-after' });
  });

  it('honours x-ratelimit-reset as Unix seconds (Auth0) and as delta-seconds', () => {
    expect(at({ rateLimitReset: String((T0 + 300_000) / 1000) })).toMatchObject({ notBefore: T0 + 300_000, source: 'x-ratelimit-reset' });
    expect(at({ rateLimitReset: '45' })).toMatchObject({ notBefore: T0 + 45_000, source: 'x-ratelimit-reset' });
  });

  it('honours the exhausted bucket of auth0-client-quota-limit, the latest when several are', () => {
    expect(at({ quotaLimit: 'b=per_hour;q=10;r=0;t=3540,b=per_day;q=50;r=47;t=43200' })).toMatchObject({ notBefore: T0 + 3_540_000, source: 'auth0-client-quota-limit' });
    expect(quotaResetAt('b=per_hour;q=10;r=0;t=60,b=per_day;q=50;r=0;t=600', T0)).toBe(T0 + 600_000);
    expect(quotaResetAt('b=per_hour;q=10;r=3;t=60', T0)).toBeNull();
  });

  it('takes the latest of several headers', () => {
    expect(at({ retryAfter: '10', rateLimitReset: '20', quotaLimit: 'b=per_hour;q=1;r=0;t=30' })).toMatchObject({ notBefore: T0 + 30_000, source: 'auth0-client-quota-limit' });
  });

  it('caps hostile waits at maxRetryAfterMs', () => {
    const cap = T0 + CLIENT_CREDENTIALS_DEFAULTS.maxRetryAfterMs;
    expect(at({ retryAfter: '99999999999999999999' }).notBefore).toBe(cap);
    expect(at({ retryAfter: 'Fri, 31 Dec 2100 23:59:59 GMT' }).notBefore).toBe(cap);
    expect(at({ rateLimitReset: '99999999999' }).notBefore).toBe(cap);
    expect(at({ quotaLimit: 'b=per_day;q=1;r=0;t=999999999999' }).notBefore).toBe(cap);
  });

  it('ignores garbage headers and backs off with full jitter, bounded', () => {
    expect(retryAfterAt('soon', T0)).toBeNull();
    expect(rateLimitResetAt('-5', T0)).toBeNull();
    expect(serverWait({ retryAfter: 'x'.repeat(5000), rateLimitReset: null, quotaLimit: null }, T0)).toBeNull();
    let gate: ClientTokenGate | null = null;
    const waits: number[] = [];
    for (let i = 0; i < 12; i++) {
      gate = gateAfterFailure(gate, { kind: 'network' }, T0, () => 0.999, P);
      waits.push(gate.notBefore - T0);
    }
    expect(waits[0]).toBeLessThanOrEqual(P.backoffBaseMs);
    expect(waits[3]).toBeGreaterThan(4 * P.backoffBaseMs);
    expect(Math.max(...waits)).toBeLessThanOrEqual(P.backoffMaxMs);
    expect(waits[11]).toBeGreaterThan(0.9 * P.backoffMaxMs);
    const low = gateAfterFailure(null, { kind: 'network' }, T0, () => 0, P);
    expect(low.notBefore - T0).toBe(P.backoffBaseMs);
  });

  it('waits clientErrorBackoffMs after invalid_client, not an exponential storm', () => {
    expect(gateAfterFailure(null, { kind: 'invalid-client', status: 401, headers: none }, T0, () => 0, P)).toMatchObject({ notBefore: T0 + P.clientErrorBackoffMs, source: 'client-error' });
  });

  it('after a success, waits only for an exhausted quota', () => {
    expect(gateAfterSuccess({ ...none, rateLimitReset: String((T0 + 60_000) / 1000), retryAfter: '5' }, T0, P)).toBeNull();
    expect(gateAfterSuccess({ ...none, quotaLimit: 'b=per_hour;q=10;r=0;t=120' }, T0, P)).toMatchObject({ notBefore: T0 + 120_000, attempts: 0 });
  });
});
