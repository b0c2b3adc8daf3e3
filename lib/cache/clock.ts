/** Opaque timer handle returned by `Clock.setTimeout`. */
export type TimerHandle = unknown;

/**
 * Time as the cache sees it. Injected so the policy and the service run on a fake clock in tests
 * (`FakeClock` in `nestjs-jwks-auth/testing`) instead of sleeping.
 */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
  /**
   * A number in [0, 1) for jitter (backoff, refresh spread). From the clock so tests make it
   * deterministic. Optional: a clock without it gets `Math.random`.
   */
  random?(): number;
}

/** The clock's randomness, or `Math.random` for a clock written before `random()` existed. */
export function randomOf(clock: Clock): () => number {
  return typeof clock.random === 'function' ? () => (clock.random as () => number).call(clock) : Math.random;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    // Node fires a delay above 2^31 - 1 ms at once (with a warning): a long TTL would become a refetch loop.
    const t = setTimeout(fn, Math.min(ms, MAX_TIMER_MS));
    // A background refresh must never keep a process alive on its own.
    t.unref();
    return t;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
  random: () => Math.random(),
};
