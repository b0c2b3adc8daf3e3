/**
 * The small checks every part of the options' validation shares (the module's own keys, and each
 * transport's option beside its transport): what a value looks like in a message, unknown keys
 * with a "did you mean".
 */

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The offending value, short and printable, for error messages (options hold no secrets, but stay brief). */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'number') return String(value);
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = Object.prototype.toString.call(value);
  }
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** Edit distance, for "did you mean" on a misspelt option name. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length];
}

/** The known name closest to a misspelt one, if close enough to be the intended one. */
export function suggestion(name: string, known: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = distance(lower, k.toLowerCase());
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  // A few edits is a typo (`maxEntry`, `audiance`, `clockTolerance`); else a known name that starts
  // with the given one is the usual slip (`ttl` for `ttlMs`).
  if (bestDistance <= Math.max(3, Math.floor(name.length / 3))) return best;
  return known.find((k) => lower.length >= 3 && k.toLowerCase().startsWith(lower));
}

/** One problem per key of `value` not in `known`, named as `<shown><key>`, with the closest known name. */
export function unknownKeys(problems: string[], shown: string, value: Record<string, unknown>, known: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (known.includes(key)) continue;
    const hint = suggestion(key, known);
    problems.push(`unknown option "${shown}${key}"${hint ? ` (did you mean "${shown}${hint}"?)` : ''}`);
  }
}

/**
 * Whether `fn` is an `async` function (or async generator): a token extractor is called
 * synchronously, per request or message, so an async one would hand back a promise every time
 * and every call would be refused. Read from the function's own tag, which holds across realms;
 * a plain function that returns a promise cannot be told apart here and is caught per call.
 */
export function isAsyncFunction(fn: unknown): boolean {
  if (typeof fn !== 'function') return false;
  const tag = Object.prototype.toString.call(fn);
  return tag === '[object AsyncFunction]' || tag === '[object AsyncGeneratorFunction]';
}

/**
 * A function token extractor, refused (one line in `problems`) when it is `async`.
 * @param shown the option's name in messages, such as `websocket.token`
 */
export function syncExtractor<F>(problems: string[], shown: string, fn: F): F | null {
  if (!isAsyncFunction(fn)) return fn;
  problems.push(`${shown} must be a synchronous function returning the token (or null), got an async function: it is called per request and cannot be awaited; read anything it needs beforehand`);
  return null;
}
