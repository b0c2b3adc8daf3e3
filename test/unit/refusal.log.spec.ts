import { RefusalLog } from '../../lib/guards/refusal.log';
import { REFUSAL_LOG_WINDOW_MS, REFUSAL_SPIKE_THRESHOLD } from '../../lib/jwks-auth.constants';

/** A logger that records each line with its level, and a clock the test moves by hand. */
function setup() {
  const lines: string[] = [];
  let now = 0;
  const logger = {
    debug: (m: unknown) => void lines.push(`D ${String(m)}`),
    log: (m: unknown) => void lines.push(`L ${String(m)}`),
    error: (m: unknown) => void lines.push(`E ${String(m)}`),
  };
  const log = new RefusalLog(logger, () => now);
  return { lines, log, at: (t: number) => void (now = t), levels: (level: string) => lines.filter((l) => l.startsWith(`${level} `)) };
}

describe('RefusalLog', () => {
  it('logs the first refusal of each code, then at most one line per code per 10 s with the count suppressed', () => {
    const { log, at, levels } = setup();
    for (let i = 0; i < 10_000; i++) log.refused('ERR_JWT_EXPIRED');
    log.refused('ERR_JWKS_COOLDOWN');
    expect(levels('D')).toEqual(['D token refused: ERR_JWT_EXPIRED', 'D token refused: ERR_JWKS_COOLDOWN']);
    at(10_000);
    log.refused('ERR_JWT_EXPIRED');
    log.refused('TypeError', true);
    expect(levels('D').slice(2)).toEqual(['D token refused: ERR_JWT_EXPIRED (+9999 more in the last 10 s)']);
    expect(levels('E')).toEqual(['E token verification failed unexpectedly: TypeError']);
  });

  describe('spike summary at log level', () => {
    it('uses a 10 s window and a threshold of 100 refusals', () => {
      expect(REFUSAL_LOG_WINDOW_MS).toBe(10_000);
      expect(REFUSAL_SPIKE_THRESHOLD).toBe(100);
    });

    it('says nothing at log level while refusals stay at or under the threshold in a window', () => {
      const { log, at, levels } = setup();
      for (let w = 0; w < 5; w++) {
        at(w * REFUSAL_LOG_WINDOW_MS);
        for (let i = 0; i < REFUSAL_SPIKE_THRESHOLD; i++) log.refused(i % 2 ? 'ERR_JWT_EXPIRED' : 'ERR_JWT_AUDIENCE');
      }
      expect(levels('L')).toEqual([]);
    });

    it('writes one line with the counts by code, most frequent first, when the threshold is exceeded, and no more in that window', () => {
      const { log, at, levels } = setup();
      at(1_000);
      for (let i = 0; i < 60; i++) log.refused('ERR_JWKS_COOLDOWN');
      at(3_500);
      for (let i = 0; i < 30; i++) log.refused('ERR_JWT_EXPIRED');
      for (let i = 0; i < 10; i++) log.refused('ERR_JWT_MISSING');
      expect(levels('L')).toEqual([]);
      log.refused('ERR_JWT_EXPIRED');
      expect(levels('L')).toEqual(['L token refusals spiking: 101 in 2.5 s (ERR_JWKS_COOLDOWN 60, ERR_JWT_EXPIRED 31, ERR_JWT_MISSING 10); reasons at debug level']);
      at(10_999);
      for (let i = 0; i < 5_000; i++) log.refused('ERR_JWT_EXPIRED');
      expect(levels('L')).toHaveLength(1);
    });

    it('writes again in the next window only if that window also exceeds the threshold, counting it afresh', () => {
      const { log, at, levels } = setup();
      for (let i = 0; i < 500; i++) log.refused('ERR_JWT_EXPIRED');
      expect(levels('L')).toHaveLength(1);
      at(REFUSAL_LOG_WINDOW_MS);
      for (let i = 0; i < REFUSAL_SPIKE_THRESHOLD; i++) log.refused('ERR_JWT_EXPIRED');
      expect(levels('L')).toHaveLength(1);
      at(REFUSAL_LOG_WINDOW_MS + 2_000);
      log.refused('TypeError', true);
      expect(levels('L')).toEqual([
        'L token refusals spiking: 101 in 0.0 s (ERR_JWT_EXPIRED 101); reasons at debug level',
        'L token refusals spiking: 101 in 2.0 s (ERR_JWT_EXPIRED 100, TypeError 1); reasons at debug level',
      ]);
    });

    it('starts a window at the first refusal after a quiet spell, so a burst is not split at a fixed boundary', () => {
      const { log, at, levels } = setup();
      at(7_000);
      log.refused('ERR_JWT_EXPIRED');
      at(16_000); // 9 s into the window that began at 7 s
      for (let i = 0; i < REFUSAL_SPIKE_THRESHOLD; i++) log.refused('ERR_JWT_EXPIRED');
      expect(levels('L')).toEqual(['L token refusals spiking: 101 in 9.0 s (ERR_JWT_EXPIRED 101); reasons at debug level']);
    });
  });
});
