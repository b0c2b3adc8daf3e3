import { loggingListener, type JwksAuthEvent } from '../../lib/events/jwks-auth.events';
import { kidFingerprint } from '../../lib/events/kid.fingerprint';
import { LOG_FLOOD_INTERVAL_MS, LOG_FLOOD_MAX_KINDS } from '../../lib/jwks-auth.constants';
import { LogFloodLimiter } from '../../lib/events/log-flood.limiter';
import { FakeClock } from '../../lib/testing';

const ISSUER = 'https://idp.example/';
const URI = 'https://idp.example/jwks';

/** A logger that records each line with its level, on a clock the test moves by hand. */
function setup() {
  const lines: string[] = [];
  const clock = new FakeClock(1_000_000);
  const log = {
    log: (m: string) => void lines.push(`L ${m}`),
    warn: (m: string) => void lines.push(`W ${m}`),
    error: (m: string) => void lines.push(`E ${m}`),
  };
  const listener = loggingListener(log, { clock });
  return { lines, clock, emit: (e: JwksAuthEvent) => listener(e) };
}

const unknownKid: JwksAuthEvent = { type: 'unknown-kid', jwksUri: URI, action: 'cooldown', issuer: ISSUER };
const cooldown: JwksAuthEvent = { type: 'refetch-refused', jwksUri: URI, reason: 'cooldown', issuer: ISSUER };

describe('loggingListener', () => {
  it('uses a 10 s flood interval', () => {
    expect(LOG_FLOOD_INTERVAL_MS).toBe(10_000);
  });

  it('writes one line per kind per interval during a flood, then a summary with the count', async () => {
    const { lines, clock, emit } = setup();
    for (let i = 0; i < 5_000; i++) {
      emit(unknownKid);
      emit(cooldown);
    }
    expect(lines).toEqual([
      `L JWKS: a token named a key that the set from ${URI} does not hold (kid mismatch): refetching unless refused`,
      `W JWKS: a refetch of ${URI} for an unknown kid was refused (cooldown): such tokens are refused meanwhile`,
    ]);
    await clock.advance(LOG_FLOOD_INTERVAL_MS - 1);
    expect(lines).toHaveLength(2);
    await clock.advance(1);
    // The flood may have stopped: the summary comes at the end of the interval, not with the next line.
    expect(lines.slice(2)).toEqual([
      `L JWKS: … 4999 more "unknown-kid" line(s) for ${ISSUER} in the last 10 s`,
      `W JWKS: … 4999 more "refetch-refused (cooldown)" line(s) for ${ISSUER} in the last 10 s`,
    ]);
    emit(unknownKid);
    expect(lines).toHaveLength(5);
    expect(lines[4]).toMatch(/^L JWKS: a token named a key/);
  });

  it('counts kinds apart: another reason or another issuer is not held back', () => {
    const { lines, emit } = setup();
    emit(cooldown);
    emit({ ...cooldown, reason: 'backoff' });
    emit({ ...cooldown, issuer: 'https://other.example/' });
    emit(cooldown);
    expect(lines).toHaveLength(3);
  });

  it('writes no summary for a kind that did not repeat', async () => {
    const { lines, clock, emit } = setup();
    emit({ type: 'store-not-used', jwksUri: URI, reason: 'older-than-max-stale', issuer: ISSUER });
    await clock.advance(LOG_FLOOD_INTERVAL_MS * 3);
    expect(lines).toEqual(['W JWKS snapshot: not used (older than maxStaleMs)']);
    expect(clock.pending()).toEqual([]);
  });

  it('rate-limits failed fetches and unusable pushed sets, never operator actions', () => {
    const { lines, emit } = setup();
    const failed: JwksAuthEvent = { type: 'fetch-finished', jwksUri: URI, trigger: 'background', outcome: 'failed', durationMs: 5, error: { code: 'ERR_JWKS_FETCH', kind: 'network', message: 'connect ECONNREFUSED' }, nextAttemptInMs: 1000, issuer: ISSUER };
    const pushed: JwksAuthEvent = { type: 'store-not-used', jwksUri: URI, reason: 'unusable-pushed-set', issuer: ISSUER };
    for (let i = 0; i < 100; i++) {
      emit(failed);
      emit(pushed);
    }
    expect(lines).toHaveLength(2);
    emit({ type: 'key-revoked', jwksUri: URI, kid: 'a', issuer: ISSUER });
    emit({ type: 'key-revoked', jwksUri: URI, kid: 'b', issuer: ISSUER });
    expect(lines.slice(2)).toEqual([
      `W JWKS: key ${kidFingerprint('a')} revoked by the operator: its tokens are refused until restoreKey()`,
      `W JWKS: key ${kidFingerprint('b')} revoked by the operator: its tokens are refused until restoreKey()`,
    ]);
  });

  it('says when fetches succeed again after failing, once per run of failures', () => {
    const { lines, emit } = setup();
    const fetch = (outcome: 'ok' | 'failed' | 'not-modified'): JwksAuthEvent =>
      outcome === 'failed'
        ? { type: 'fetch-finished', jwksUri: URI, trigger: 'background', outcome, durationMs: 5, error: { code: 'ERR_JWKS_FETCH', kind: 'network', message: 'connection refused (ECONNREFUSED)' }, nextAttemptInMs: 1000, issuer: ISSUER }
        : { type: 'fetch-finished', jwksUri: URI, trigger: 'background', outcome, durationMs: 5, issuer: ISSUER };
    emit(fetch('ok'));
    expect(lines).toEqual([]);
    for (let i = 0; i < 3; i++) emit(fetch('failed'));
    emit(fetch('not-modified'));
    emit(fetch('ok'));
    expect(lines.filter((l) => l.includes('succeeded again'))).toEqual([`L JWKS fetch from ${URI} succeeded again after 3 failed attempt(s)`]);
    emit(fetch('failed'));
    emit(fetch('ok'));
    expect(lines.filter((l) => l.includes('succeeded again'))).toHaveLength(2);
  });

  it('forgets the failures of a removed issuer', () => {
    const { lines, emit } = setup();
    emit({ type: 'fetch-finished', jwksUri: URI, trigger: 'background', outcome: 'failed', durationMs: 5, error: { code: 'ERR_JWKS_FETCH', kind: 'network', message: 'x' }, nextAttemptInMs: 1000, issuer: ISSUER });
    emit({ type: 'issuer-removed', jwksUri: URI, issuer: ISSUER });
    emit({ type: 'issuer-added', jwksUri: URI, issuer: ISSUER });
    emit({ type: 'fetch-finished', jwksUri: URI, trigger: 'warm-up', outcome: 'ok', durationMs: 5, issuer: ISSUER });
    expect(lines.filter((l) => l.includes('succeeded again'))).toEqual([]);
  });

  it('logs a request that waited too long for the IdP, never a raw kid', () => {
    const { lines, emit } = setup();
    emit({ type: 'stale-served', jwksUri: URI, reason: 'wait-timeout', ageMs: 61_000, issuer: ISSUER });
    emit({ type: 'key-set-changed', jwksUri: URI, origin: 'fetch', kidsAdded: ['raw-kid-secret'], kidsRemoved: ['old-raw-kid'], keyCount: 1, issuer: ISSUER });
    expect(lines[0]).toBe(`W JWKS: waiting for ${URI} timed out: serving the held set (61 s old) as last-known-good`);
    expect(lines.join('\n')).not.toContain('raw-kid');
    expect(lines[1]).toContain(kidFingerprint('raw-kid-secret'));
  });

  it('keeps a bounded number of windows under issuer churn: ended ones are swept', async () => {
    const clock = new FakeClock(0);
    const limiter = new LogFloodLimiter({ warn: () => undefined, error: () => undefined }, clock, LOG_FLOOD_INTERVAL_MS);
    let admitted = 0;
    let most = 0;
    for (let i = 0; i < LOG_FLOOD_MAX_KINDS * 5; i++) {
      // A new issuer for each line (issuers added and removed over months), time moving on.
      if (limiter.admit('warn', 'fetch-failed', `https://tenant-${i}.example/`)) admitted++;
      most = Math.max(most, limiter.tracked);
      await clock.advance(50);
    }
    expect(admitted).toBe(LOG_FLOOD_MAX_KINDS * 5);
    expect(most).toBeLessThanOrEqual(LOG_FLOOD_MAX_KINDS);
  });
});
