import type { Clock, TimerHandle } from '../cache/clock.js';
import type { KeySetLog } from '../cache/key-set.source.js';

type Level = 'warn' | 'error' | 'log';

interface Window {
  readonly startedAt: number;
  readonly level: Level;
  /** What the summary calls the kind: the event type, its reason, for which issuer. */
  readonly label: string;
  readonly issuer: string;
  suppressed: number;
  timer: TimerHandle | null;
}

/**
 * At most one line per kind per interval: the first is written, the next ones are counted, and
 * when the interval ends one summary says how many were held back. The summary is written from a
 * timer on the given clock, so it comes even if the flood stopped; no kind that did not repeat
 * leaves a timer. Kinds are event type × reason × issuer, so the map is bounded by configuration,
 * never by what a token says.
 */
export class LogFloodLimiter {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly log: KeySetLog,
    private readonly clock: Pick<Clock, 'now' | 'setTimeout' | 'clearTimeout'>,
    private readonly intervalMs: number,
  ) {}

  write(level: Level, label: string, issuer: string, line: string): void {
    const key = `${label}\u0000${issuer}`;
    const now = this.clock.now();
    const open = this.windows.get(key);
    if (open !== undefined) {
      const elapsed = now - open.startedAt;
      if (elapsed < this.intervalMs) {
        open.suppressed++;
        open.timer ??= this.clock.setTimeout(() => this.close(key), this.intervalMs - elapsed);
        return;
      }
      this.close(key);
    }
    this.windows.set(key, { startedAt: now, level, label, issuer, suppressed: 0, timer: null });
    this.emit(level, line);
  }

  private close(key: string): void {
    const w = this.windows.get(key);
    if (w === undefined) return;
    this.windows.delete(key);
    if (w.timer !== null) this.clock.clearTimeout(w.timer);
    if (w.suppressed > 0) {
      const seconds = Math.round(this.intervalMs / 1000);
      this.emit(w.level, `JWKS: … ${w.suppressed} more "${w.label}" line(s) for ${w.issuer} in the last ${seconds} s`);
    }
  }

  private emit(level: Level, line: string): void {
    if (level === 'log') this.log.log?.(line);
    else this.log[level](line);
  }
}
