import type { Logger } from '@nestjs/common';
import { REFUSAL_LOG_WINDOW_MS, REFUSAL_SPIKE_THRESHOLD } from '../jwks-auth.constants.js';

/**
 * Logs token refusals by error code, throttled: the first refusal of a code is logged at debug
 * level at once, later ones are counted and reported with the next line for that code after the
 * window. A spike (more than `REFUSAL_SPIKE_THRESHOLD` refusals of any codes within one window)
 * also gets one `log`-level summary of the counts by code, so a 401 storm is visible without debug
 * logging. Lines carry codes and counts only: never a token, never a kid. Pure: time comes from `now`.
 */
export class RefusalLog {
  private readonly windows = new Map<string, { loggedAt: number; suppressed: number }>();
  /** The spike window: starts at the first refusal after the previous one ended. */
  private spikeStart = -Infinity;
  private spikeTotal = 0;
  private readonly spikeCounts = new Map<string, number>();

  constructor(
    private readonly logger: Pick<Logger, 'debug' | 'log' | 'error'>,
    private readonly now: () => number = Date.now,
  ) {}

  refused(code: string, unexpected = false): void {
    const now = this.now();
    this.countForSpike(code, now);
    const w = this.windows.get(code);
    if (w !== undefined && now - w.loggedAt < REFUSAL_LOG_WINDOW_MS) {
      w.suppressed++;
      return;
    }
    const more = w !== undefined && w.suppressed > 0 ? ` (+${w.suppressed} more in the last ${Math.round((now - w.loggedAt) / 1000)} s)` : '';
    this.windows.set(code, { loggedAt: now, suppressed: 0 });
    if (unexpected) this.logger.error(`token verification failed unexpectedly: ${code}${more}`);
    else this.logger.debug(`token refused: ${code}${more}`);
  }

  /**
   * Written the moment the threshold is crossed, not when the window ends: no timer is needed,
   * and a storm is reported while it happens. The elapsed time in the line gives its rate.
   */
  private countForSpike(code: string, now: number): void {
    if (now - this.spikeStart >= REFUSAL_LOG_WINDOW_MS) {
      this.spikeStart = now;
      this.spikeTotal = 0;
      this.spikeCounts.clear();
    }
    this.spikeTotal++;
    this.spikeCounts.set(code, (this.spikeCounts.get(code) ?? 0) + 1);
    if (this.spikeTotal !== REFUSAL_SPIKE_THRESHOLD + 1) return;
    const byCode = [...this.spikeCounts].sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} ${n}`).join(', ');
    const seconds = ((now - this.spikeStart) / 1000).toFixed(1);
    this.logger.log(`token refusals spiking: ${this.spikeTotal} in ${seconds} s (${byCode}); reasons at debug level`);
  }
}

/** An error's name for a log line: the app's code threw it, so bounded and printable, never its message. */
export function errorName(err: unknown): string {
  const name: unknown = (err as { name?: unknown } | null)?.name;
  return typeof name === 'string' ? name.replace(/[^\w.$-]/g, '?').slice(0, 64) : typeof err;
}
