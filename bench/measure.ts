/** One contender's measured figures. */
export interface Measurement {
  name: string;
  opsPerSec: number;
  p50us: number;
  p99us: number;
}

const MAX_SAMPLES = 1 << 20;

/**
 * Runs `fn` over `tokens` round-robin for `seconds` after a warm-up, timing each call
 * (awaiting it only when it returns a promise). Every call must succeed: a contender that
 * refuses a valid token would otherwise look fast.
 */
export async function measure(name: string, fn: (token: string) => unknown, tokens: readonly string[], seconds: number): Promise<Measurement> {
  const samples = new Float64Array(MAX_SAMPLES);
  let n = 0;
  let ops = 0;
  let i = 0;
  const runFor = async (ms: number, record: boolean) => {
    const deadline = performance.now() + ms;
    while (performance.now() < deadline) {
      for (let k = 0; k < 64; k++) {
        const token = tokens[i++ % tokens.length];
        const t0 = performance.now();
        const r = fn(token);
        const out = r instanceof Promise ? await r : r;
        const dt = performance.now() - t0;
        if (out === false || out === undefined || out === null) throw new Error(`${name}: refused a valid token`);
        if (record) {
          ops++;
          if (n < MAX_SAMPLES) samples[n++] = dt;
        }
      }
    }
  };
  await runFor(Math.max(300, seconds * 250), false);
  const start = performance.now();
  await runFor(seconds * 1000, true);
  const elapsed = (performance.now() - start) / 1000;
  const sorted = samples.subarray(0, n).sort();
  return {
    name,
    opsPerSec: ops / elapsed,
    p50us: sorted[Math.floor(n * 0.5)] * 1000,
    p99us: sorted[Math.floor(n * 0.99)] * 1000,
  };
}
