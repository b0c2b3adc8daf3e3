import type { Clock, TimerHandle } from '../cache/clock.js';
import type { KeySetLog } from '../cache/key-set.source.js';
import { LOG_FLOOD_MAX_KINDS } from '../jwks-auth.constants.js';

type Level = 'warn' | 'error' | 'log';

interface Window {
  readonly startedAt: number;
  readonly level: Level;
  suppressed: number;
  timer: TimerHandle | null;
}

/**
 * At most one line per kind and issuer per interval: the first is written, the next ones are
 * counted, and when the interval ends one summary says how many were held back. The summary is
 * written from a timer on the given clock, so it comes even if the flood stopped; a kind that did
 * not repeat leaves no timer. Kinds come from the event (type and reason) and issuers from the
 * configuration, never from a token; stale windows are swept past `LOG_FLOOD_MAX_KINDS`, so issuers
 * added and removed for months do not grow the map.
 */
export class LogFloodLimiter {
  /** issuer → kind → window: no string is built to look one up (a flood calls this per request). */
  private readonly windows = new Map<string, Map<string, Window>>();
  private size = 0;

  constructor(
    private readonly log: KeySetLog,
    private readonly clock: Pick<Clock, 'now' | 'setTimeout' | 'clearTimeout'>,
    private readonly intervalMs: number,
  ) {}

  /** Windows held (for tests and diagnostics). */
  get tracked(): number {
    return this.size;
  }

  /**
   * True when the caller should write its line now (at `level`); false when it is counted for the
   * summary instead. The caller builds its line only when told to, so a held-back line costs a lookup.
   */
  admit(level: Level, kind: string, issuer: string): boolean {
    const now = this.clock.now();
    let kinds = this.windows.get(issuer);
    const open = kinds?.get(kind);
    if (open !== undefined) {
      const elapsed = now - open.startedAt;
      if (elapsed < this.intervalMs) {
        open.suppressed++;
        open.timer ??= this.clock.setTimeout(() => this.close(issuer, kind), this.intervalMs - elapsed);
        return false;
      }
      this.close(issuer, kind);
    }
    if (this.size >= LOG_FLOOD_MAX_KINDS) this.sweep(now);
    if (kinds === undefined || !this.windows.has(issuer)) {
      kinds = new Map();
      this.windows.set(issuer, kinds);
    }
    kinds.set(kind, { startedAt: now, level, suppressed: 0, timer: null });
    this.size++;
    return true;
  }

  private close(issuer: string, kind: string): void {
    const kinds = this.windows.get(issuer);
    const w = kinds?.get(kind);
    if (kinds === undefined || w === undefined) return;
    kinds.delete(kind);
    this.size--;
    if (kinds.size === 0) this.windows.delete(issuer);
    if (w.timer !== null) this.clock.clearTimeout(w.timer);
    if (w.suppressed > 0) {
      const line = `JWKS: … ${w.suppressed} more "${kind}" line(s) for ${issuer} in the last ${Math.round(this.intervalMs / 1000)} s`;
      if (w.level === 'log') this.log.log?.(line);
      else this.log[w.level](line);
    }
  }

  /** Closes every window whose interval is over (each writes its summary if it held lines back). */
  private sweep(now: number): void {
    // Deleting the entry being visited is safe in a Map's for…of.
    for (const [issuer, kinds] of this.windows) {
      for (const [kind, w] of kinds) if (now - w.startedAt >= this.intervalMs) this.close(issuer, kind);
    }
  }
}
