import { JwksFetchError } from '../errors/jwks.errors.js';
import { freshnessFromHeaders, retryAfterFromHeaders } from './http-cache.headers.js';

/** What one retrieval of the key set produced. */
export type JwksFetchResult =
  | { kind: 'ok'; jwks: string; etag: string | null; maxAgeMs?: number }
  | { kind: 'not-modified'; etag: string | null; maxAgeMs?: number };

export interface JwksFetchRequest {
  uri: string;
  etag: string | null;
  timeoutMs: number;
  maxResponseBytes: number;
  now: number;
}

/**
 * Retrieves the raw key set. The default implementation is `httpJwksFetcher`; tests of the policy
 * use a fake one, and a fleet store may wrap it.
 * @throws JwksFetchError
 */
export type JwksFetcher = (request: JwksFetchRequest) => Promise<JwksFetchResult>;

/**
 * Bounded HTTP retrieval on Node's built-in fetch (undici): one timeout over connect, headers and
 * body; no redirects (a redirect could point the keys anywhere); JSON only; the body read as a
 * stream and abandoned at the size cap, so a hostile endpoint cannot grow our memory.
 */
export const httpJwksFetcher: JwksFetcher = async ({ uri, etag, timeoutMs, maxResponseBytes, now }) => {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  timer.unref();
  try {
    let response: Response;
    try {
      response = await fetch(uri, {
        redirect: 'manual',
        signal: abort.signal,
        headers: {
          accept: 'application/jwk-set+json, application/json',
          ...(etag ? { 'if-none-match': etag } : {}),
        },
      });
    } catch (err) {
      if (abort.signal.aborted) throw new JwksFetchError(`JWKS request timed out after ${timeoutMs} ms`, 'timeout');
      throw new JwksFetchError(`JWKS request failed: ${describeNetworkError(err)}`, 'network');
    }
    const h = response.headers;
    const maxAgeMs = freshnessFromHeaders(h.get('cache-control'), h.get('expires'), h.get('date'), now);
    if (response.status === 304 && etag) {
      await response.body?.cancel();
      return { kind: 'not-modified', etag: h.get('etag') ?? etag, maxAgeMs };
    }
    if (response.status >= 300 && response.status < 400) {
      await response.body?.cancel();
      throw new JwksFetchError(`JWKS endpoint answered ${response.status}; redirects are not followed`, 'redirect', response.status);
    }
    if (response.status !== 200) {
      await response.body?.cancel();
      const retryAfterMs = retryAfterFromHeaders(h.get('retry-after'), h.get('x-ratelimit-reset'), now);
      throw new JwksFetchError(`JWKS endpoint answered ${response.status}`, 'status', response.status, retryAfterMs);
    }
    const type = h.get('content-type');
    if (type !== null && !/^application\/([\w.+-]+\+)?json\b/i.test(type.trim())) {
      await response.body?.cancel();
      throw new JwksFetchError('JWKS response is not JSON (content-type)', 'content-type', 200);
    }
    const declared = Number(h.get('content-length'));
    if (Number.isFinite(declared) && declared > maxResponseBytes) {
      await response.body?.cancel();
      throw new JwksFetchError(`JWKS response of ${declared} bytes exceeds the ${maxResponseBytes}-byte cap`, 'too-large', 200);
    }
    const text = await readCapped(response, maxResponseBytes, abort, timeoutMs);
    return { kind: 'ok', jwks: text, etag: h.get('etag'), maxAgeMs };
  } finally {
    clearTimeout(timer);
  }
};

async function readCapped(response: Response, cap: number, abort: AbortController, timeoutMs: number): Promise<string> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > cap) {
        abort.abort();
        throw new JwksFetchError(`JWKS response exceeds the ${cap}-byte cap`, 'too-large', 200);
      }
      chunks.push(value);
    }
  } catch (err) {
    if (err instanceof JwksFetchError) throw err;
    if (abort.signal.aborted) throw new JwksFetchError(`JWKS body not received within ${timeoutMs} ms`, 'timeout', 200);
    throw new JwksFetchError(`JWKS body could not be read: ${describeNetworkError(err)}`, 'network', 200);
  } finally {
    reader.releaseLock();
  }
  return Buffer.concat(chunks, size).toString('utf8');
}

/** A short, secret-free description of a network failure (undici puts the reason in `cause`). */
function describeNetworkError(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown } })?.cause;
  if (cause && typeof cause.code === 'string') return cause.code;
  return err instanceof Error ? err.name : 'unknown error';
}
