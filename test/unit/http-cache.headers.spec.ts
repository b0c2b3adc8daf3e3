import { freshnessFromHeaders } from '../../lib/fetch/http-cache.headers';

const NOW = Date.UTC(2025, 0, 1, 12, 0, 0);
const fresh = (cacheControl: string | null, opts: { expires?: string; date?: string; age?: string } = {}) =>
  freshnessFromHeaders(cacheControl, opts.expires ?? null, opts.date ?? null, NOW, opts.age ?? null);

describe('freshnessFromHeaders (RFC 9111 freshness, as a private cache)', () => {
  it('reads max-age in seconds, in any case, token or quoted form, beside other directives', () => {
    expect(fresh('max-age=60')).toBe(60_000);
    expect(fresh('public, MAX-AGE=600, must-revalidate')).toBe(600_000);
    expect(fresh('max-age="300"')).toBe(300_000);
    expect(fresh('max-age=0')).toBe(0);
  });

  it('says nothing (undefined) when there is no freshness information at all', () => {
    expect(fresh(null)).toBeUndefined();
    expect(fresh('public, must-revalidate')).toBeUndefined();
    expect(fresh('public', { age: '120' })).toBeUndefined(); // our own default is not the server's lifetime
  });

  it('subtracts Age: a set that sat an hour in a CDN is not fresh for another hour', () => {
    expect(fresh('max-age=3600', { age: '3000' })).toBe(600_000);
    expect(fresh('max-age=3600', { age: '3600' })).toBe(0);
    expect(fresh('max-age=60', { age: '7200' })).toBe(0);
    expect(fresh('max-age=3600', { age: ' 100 ' })).toBe(3_500_000);
  });

  it('subtracts Age from an Expires lifetime too', () => {
    const date = new Date(NOW - 1_000_000).toUTCString();
    const expires = new Date(NOW - 1_000_000 + 3_600_000).toUTCString();
    expect(fresh(null, { date, expires, age: '1000' })).toBe(2_600_000);
  });

  it('uses the first member of a list-valued Age and ignores an invalid one', () => {
    expect(fresh('max-age=600', { age: '100, 500' })).toBe(500_000);
    for (const age of ['-5', 'abc', '1e3', '10.5', '', '0x10']) expect(fresh('max-age=600', { age })).toBe(600_000);
  });

  it('treats an Age too large to represent as 2^31 s, so the set is stale, not wrapped around', () => {
    expect(fresh('max-age=600', { age: '99999999999999999999' })).toBe(0);
  });

  it('treats an invalid or negative max-age as stale (0), not as "no information"', () => {
    for (const cc of ['max-age=-1', 'max-age=abc', 'max-age=', 'max-age', 'max-age=1.5', 'max-age=+60', 'max-age=60s', 'max-age="-1"']) {
      expect([cc, fresh(cc)]).toEqual([cc, 0]);
    }
  });

  it('does not fall back to Expires when max-age is present but invalid', () => {
    const expires = new Date(NOW + 3_600_000).toUTCString();
    expect(fresh('max-age=oops', { expires })).toBe(0);
  });

  it('treats conflicting duplicate max-age directives as stale, identical ones as their value', () => {
    expect(fresh('max-age=600, max-age=60')).toBe(0);
    expect(fresh('max-age=600, max-age=600')).toBe(600_000);
  });

  it('clamps a max-age too large to represent to 2^31 s instead of ignoring it', () => {
    expect(fresh('max-age=99999999999999')).toBe(2 ** 31 * 1000);
  });

  it('ignores s-maxage (shared caches only) and lets max-age or Expires decide', () => {
    expect(fresh('s-maxage=10')).toBeUndefined();
    expect(fresh('s-maxage=10, max-age=600')).toBe(600_000);
    expect(fresh('max-age=600, s-maxage=99999')).toBe(600_000);
  });

  it('honours no-store and an unqualified no-cache over max-age, but not a field-qualified no-cache', () => {
    expect(fresh('no-store, max-age=600')).toBe(0);
    expect(fresh('max-age=600, no-cache')).toBe(0);
    expect(fresh('no-cache="set-cookie, x-trace", max-age=600')).toBe(600_000);
    expect(fresh('private="x-a, max-age=5", max-age=600')).toBe(600_000);
  });

  it('computes Expires against Date (clock-skew free), or against now without Date; invalid Expires is stale', () => {
    const date = new Date(NOW - 5 * 3_600_000).toUTCString(); // server clock 5 h behind ours
    const expires = new Date(NOW - 5 * 3_600_000 + 600_000).toUTCString();
    expect(fresh(null, { date, expires })).toBe(600_000);
    expect(fresh(null, { expires: new Date(NOW + 120_000).toUTCString() })).toBe(120_000);
    expect(fresh(null, { expires: '0' })).toBe(0);
    expect(fresh(null, { expires: new Date(NOW - 1000).toUTCString() })).toBe(0);
  });
});
