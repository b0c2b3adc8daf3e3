import { WebhookSenderLimiter } from '../../lib/webhook/webhook-sender.limiter';
import { WEBHOOK_DEFAULTS } from '../../lib/jwks-auth.constants';

describe('WebhookSenderLimiter (refusals per sender)', () => {
  const T = 1_000_000;

  it('blocks a sender after maxRefusals within the window, until the window ends', () => {
    const limiter = new WebhookSenderLimiter(3, 60_000, 100);
    for (let i = 0; i < 2; i++) limiter.refused('10.0.0.1', T + i);
    expect(limiter.blockedFor('10.0.0.1', T + 10)).toBe(0);
    limiter.refused('10.0.0.1', T + 20);
    expect(limiter.blockedFor('10.0.0.1', T + 30)).toBe(60_000 - 30);
    expect(limiter.blockedFor('10.0.0.2', T + 30)).toBe(0);
    expect(limiter.blockedFor('10.0.0.1', T + 59_999)).toBe(1);
    expect(limiter.blockedFor('10.0.0.1', T + 60_000)).toBe(0);
    // A new window starts from nothing.
    limiter.refused('10.0.0.1', T + 60_001);
    expect(limiter.blockedFor('10.0.0.1', T + 60_002)).toBe(0);
  });

  it('counts refusals of one window only: slow guessing is never blocked', () => {
    const limiter = new WebhookSenderLimiter(3, 60_000, 100);
    for (let i = 0; i < 30; i++) {
      limiter.refused('10.0.0.1', T + i * 30_001);
      expect(limiter.blockedFor('10.0.0.1', T + i * 30_001 + 1)).toBe(0);
    }
  });

  it('tracks at most maxSenders, forgetting the oldest first', () => {
    const limiter = new WebhookSenderLimiter(1, 60_000, 50);
    for (let i = 0; i < 10_000; i++) limiter.refused(`10.0.${i >> 8}.${i & 255}`, T + i);
    expect(limiter.size).toBe(50);
    expect(limiter.blockedFor('10.0.39.15', T + 10_001)).toBeGreaterThan(0); // the last one, sender 9999
    expect(limiter.blockedFor('10.0.0.0', T + 10_001)).toBe(0); // long forgotten
  });

  it('has defaults a real sender never meets', () => {
    expect(WEBHOOK_DEFAULTS.maxRefusalsPerSender).toBeGreaterThanOrEqual(10);
    expect(new WebhookSenderLimiter().blockedFor('x', T)).toBe(0);
  });
});
