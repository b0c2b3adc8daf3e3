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
};
