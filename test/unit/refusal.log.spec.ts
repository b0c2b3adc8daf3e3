import { RefusalLog } from '../../lib/guards/refusal.log';

describe('RefusalLog', () => {
  it('logs the first refusal of each code, then at most one line per code per 10 s with the count suppressed', () => {
    const lines: string[] = [];
    let now = 0;
    const log = new RefusalLog({ debug: (m: unknown) => void lines.push(String(m)), error: (m: unknown) => void lines.push(`E ${String(m)}`) }, () => now);
    for (let i = 0; i < 10_000; i++) log.refused('ERR_JWT_EXPIRED');
    log.refused('ERR_JWKS_COOLDOWN');
    expect(lines).toEqual(['token refused: ERR_JWT_EXPIRED', 'token refused: ERR_JWKS_COOLDOWN']);
    now = 10_000;
    log.refused('ERR_JWT_EXPIRED');
    log.refused('TypeError', true);
    expect(lines.slice(2)).toEqual(['token refused: ERR_JWT_EXPIRED (+9999 more in the last 10 s)', 'E token verification failed unexpectedly: TypeError']);
  });
});
