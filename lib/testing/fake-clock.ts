import type { Clock, TimerHandle } from '../cache/clock.js';

interface Timer {
  id: number;
  at: number;
  fn: () => void;
}

/** Options of `new FakeClock(start, options)`. */
export interface FakeClockOptions {
  /** The jitter source (numbers in [0, 1)); by default a generator seeded with `seed`. */
  random?: () => number;
  /** Seed of the default generator, so two runs jitter alike. */
  seed?: number;
}

/** mulberry32: a small, fast, seeded generator; plenty for test jitter (not for secrets). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A manual clock for tests: time moves only when `advance()` is called, and timers due by then
 * fire in order; jitter comes from a seeded generator (or the one given), so runs repeat.
 * Provide it with `.overrideProvider(JWKS_CLOCK).useValue(clock)`.
 */
export class FakeClock implements Clock {
  private current: number;
  private timers: Timer[] = [];
  private nextId = 1;
  private randomSource: () => number;

  constructor(start = Date.now(), options: FakeClockOptions = {}) {
    this.current = start;
    this.randomSource = options.random ?? seededRandom(options.seed ?? 1);
  }

  now(): number {
    return this.current;
  }

  random(): number {
    return this.randomSource();
  }

  /** Replaces the jitter source, e.g. `() => 0.999` for the longest jitter every time. */
  setRandom(random: () => number): void {
    this.randomSource = random;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer = { id: this.nextId++, at: this.current + Math.max(0, ms), fn };
    this.timers.push(timer);
    return timer.id;
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }

  /** Pending timers, soonest first (for assertions). */
  pending(): number[] {
    return this.timers.map((t) => t.at).sort((a, b) => a - b);
  }

  /**
   * Moves time forward by `ms`, firing each due timer at its own time and letting the promises
   * it starts settle before the next one fires.
   */
  async advance(ms: number): Promise<void> {
    const target = this.current + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.at <= target).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.current = Math.max(this.current, due.at);
      due.fn();
      await flushPromises();
    }
    this.current = target;
    await flushPromises();
  }
}

/** Lets pending promise callbacks (and one turn of I/O) run. */
export function flushPromises(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Polls `predicate` until it holds, for conditions that wait on real I/O (a background fetch the
 * fake clock started still talks to a real server). Rejects after `timeoutMs` of real time.
 */
export async function waitFor(predicate: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`waitFor: condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
