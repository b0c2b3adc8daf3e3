import type { Logger } from '@nestjs/common';

/** At most one log line per error code per window: a flood of bad tokens must not become a flood of log lines. */
const WINDOW_MS = 10_000;

/**
 * Logs token refusals by error code, throttled: the first refusal of a code is logged at once,
 * later ones are counted and reported with the next line for that code after the window.
 */
export class RefusalLog {
  private readonly windows = new Map<string, { loggedAt: number; suppressed: number }>();

  constructor(
    private readonly logger: Pick<Logger, 'debug' | 'error'>,
    private readonly now: () => number = Date.now,
  ) {}

  refused(code: string, unexpected = false): void {
    const now = this.now();
    const w = this.windows.get(code);
    if (w !== undefined && now - w.loggedAt < WINDOW_MS) {
      w.suppressed++;
      return;
    }
    const more = w !== undefined && w.suppressed > 0 ? ` (+${w.suppressed} more in the last ${Math.round((now - w.loggedAt) / 1000)} s)` : '';
    this.windows.set(code, { loggedAt: now, suppressed: 0 });
    if (unexpected) this.logger.error(`token verification failed unexpectedly: ${code}${more}`);
    else this.logger.debug(`token refused: ${code}${more}`);
  }
}
