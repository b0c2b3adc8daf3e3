/** One contender's measured figures. */
export interface Measurement {
  name: string;
  opsPerSec: number;
  p50us: number;
  p99us: number;
}

/** One contender of an alternating measurement: its function and the tokens it runs over. */
export interface AlternatingContender {
  name: string;
  fn: (token: string) => unknown;
  tokens: readonly string[];
}

/** A contender's figures over all its turns, and its ops/s in each round (one turn per round). */
export interface AlternatingMeasurement extends Measurement {
  opsPerSecByRound: number[];
}

const MAX_SAMPLES = 1 << 20;

/**
 * Calls one contender over its tokens round-robin, timing each call (awaiting it only when it
 * returns a promise) and keeping the samples across runs. Every call must succeed: a contender
 * that refuses a valid token would otherwise look fast.
 */
class Runner {
  private readonly samples = new Float64Array(MAX_SAMPLES);
  private n = 0;
  private i = 0;
  ops = 0;
  elapsedMs = 0;

  constructor(
    readonly name: string,
    private readonly fn: (token: string) => unknown,
    private readonly tokens: readonly string[],
  ) {}

  /** Runs for `ms`; returns how many calls were recorded and how long that took (wall clock). */
  async run(ms: number, record: boolean): Promise<{ ops: number; ms: number }> {
    const { fn, tokens, name, samples } = this;
    let ops = 0;
    const start = performance.now();
    const deadline = start + ms;
    while (performance.now() < deadline) {
      for (let k = 0; k < 64; k++) {
        const token = tokens[this.i++ % tokens.length];
        const t0 = performance.now();
        const r = fn(token);
        const out = r instanceof Promise ? await r : r;
        const dt = performance.now() - t0;
        if (out === false || out === undefined || out === null) throw new Error(`${name}: refused a valid token`);
        if (record) {
          ops++;
          if (this.n < MAX_SAMPLES) samples[this.n++] = dt;
        }
      }
    }
    const elapsed = performance.now() - start;
    if (record) {
      this.ops += ops;
      this.elapsedMs += elapsed;
    }
    return { ops, ms: elapsed };
  }

  result(): Measurement {
    const sorted = this.samples.subarray(0, this.n).sort();
    return {
      name: this.name,
      opsPerSec: this.ops / (this.elapsedMs / 1000),
      p50us: sorted[Math.floor(this.n * 0.5)] * 1000,
      p99us: sorted[Math.floor(this.n * 0.99)] * 1000,
    };
  }
}

const warmUpMs = (seconds: number) => Math.max(300, seconds * 250);

/**
 * Runs `fn` over `tokens` round-robin for `seconds` after a warm-up, timing each call
 * (awaiting it only when it returns a promise). Every call must succeed: a contender that
 * refuses a valid token would otherwise look fast.
 */
export async function measure(name: string, fn: (token: string) => unknown, tokens: readonly string[], seconds: number): Promise<Measurement> {
  const runner = new Runner(name, fn, tokens);
  await runner.run(warmUpMs(seconds), false);
  await runner.run(seconds * 1000, true);
  return runner.result();
}

/**
 * As `measure`, for contenders whose difference is smaller than the drift of a machine over a
 * few seconds (other processes, frequency scaling, GC): after each contender's warm-up, they take
 * turns of `turnMs` each, round after round (the order reversed every other round), until each has
 * run `seconds`. Neighbouring turns see the same machine, so the ratio of two contenders within
 * one round is nearly free of drift; the median of those per-round ratios is the figure to read.
 */
export async function measureAlternating(contenders: readonly AlternatingContender[], seconds: number, turnMs: number): Promise<AlternatingMeasurement[]> {
  const runners = contenders.map((c) => new Runner(c.name, c.fn, c.tokens));
  for (const r of runners) await r.run(warmUpMs(seconds), false);
  const byRound = runners.map(() => [] as number[]);
  const rounds = Math.max(1, Math.round((seconds * 1000) / turnMs));
  for (let round = 0; round < rounds; round++) {
    const order = runners.map((_, i) => (round % 2 === 0 ? i : runners.length - 1 - i));
    for (const i of order) {
      const turn = await runners[i].run(turnMs, true);
      byRound[i].push(turn.ops / (turn.ms / 1000));
    }
  }
  return runners.map((r, i) => ({ ...r.result(), opsPerSecByRound: byRound[i] }));
}
