import { retryAfterSeconds } from '../../lib/guards/refusal.headers';
import { JWKS_DEFAULTS, UNAVAILABLE_RETRY_AFTER_SEC } from '../../lib/jwks-auth.constants';

describe('retryAfterSeconds', () => {
  it('rounds the wait up to whole seconds', () => {
    expect([1_000, 1_001, 1_999, 2_000, 120_000].map(retryAfterSeconds)).toEqual([1, 2, 2, 2, 120]);
  });

  it('never says 0 or less: a due or overdue attempt still gets 1 s', () => {
    expect([0, 1, 999, -5_000].map(retryAfterSeconds)).toEqual([1, 1, 1, 1]);
  });

  it('falls back to the constant default (the longest retry gap while no set is held) when the wait is unknown', () => {
    expect(UNAVAILABLE_RETRY_AFTER_SEC).toBe(Math.ceil(JWKS_DEFAULTS.unavailableRetryMaxMs / 1000));
    expect([undefined, NaN, Infinity, -Infinity].map(retryAfterSeconds)).toEqual(Array(4).fill(UNAVAILABLE_RETRY_AFTER_SEC));
  });
});
