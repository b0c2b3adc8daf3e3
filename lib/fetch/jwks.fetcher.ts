import { JwksFetchError } from '../errors/jwks.errors.js';
import { JWKS_DEFAULTS } from '../jwks-auth.constants.js';
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
  /** Aborted when the key set shuts down: the request ends at once instead of at its timeout. */
  signal?: AbortSignal;
}

/**
 * Retrieves the raw key set. The default implementation is `httpJwksFetcher`; tests of the policy
 * use a fake one, and a fleet store may wrap it.
 * @throws JwksFetchError
 */
export type JwksFetcher = (request: JwksFetchRequest) => Promise<JwksFetchResult>;

/**
 * Bounded HTTP retrieval on Node's built-in fetch (undici): one timeout over connect, headers and
 * body; no redirects (a redirect could point the keys anywhere); the body read as a stream and
 * abandoned at the size cap, so a hostile endpoint cannot grow our memory. Any content type is
 * accepted when the body is a JWK Set (storage buckets and static servers serve
 * `application/octet-stream`, `binary/octet-stream` or `text/plain`, as jose and jwks-rsa accept);
 * a leading UTF-8 BOM is dropped. Errors name the status and the (sanitised) content type received,
 * never the body or another header.
 */
export const httpJwksFetcher: JwksFetcher = async ({ uri, etag, timeoutMs, maxResponseBytes, now, signal }) => {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  timer.unref();
  // The caller's signal (shutdown) ends the request too; the error then says so, not "timed out".
  const cancel = () => abort.abort();
  signal?.addEventListener('abort', cancel, { once: true });
  if (signal?.aborted) abort.abort();
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
      if (signal?.aborted) throw new JwksFetchError('JWKS request cancelled: the key set is shutting down', 'network');
      if (abort.signal.aborted) throw new JwksFetchError(`JWKS request timed out after ${timeoutMs} ms`, 'timeout');
      throw new JwksFetchError(`JWKS request failed: ${describeNetworkError(err)}`, 'network');
    }
    const h = response.headers;
    const status = response.status;
    const received = describeResponse(status, h.get('content-type'));
    const maxAgeMs = freshnessFromHeaders(h.get('cache-control'), h.get('expires'), h.get('date'), now, h.get('age'));
    if (status === 304) {
      await response.body?.cancel();
      // Only the set we asked about (If-None-Match) can be "not modified"; a bare 304 revalidates nothing.
      if (etag) return { kind: 'not-modified', etag: h.get('etag') ?? etag, maxAgeMs };
      throw new JwksFetchError(`JWKS endpoint answered 304 to an unconditional request (${received})`, 'status', status);
    }
    if (status >= 300 && status < 400) {
      await response.body?.cancel();
      throw new JwksFetchError(`JWKS endpoint answered ${status}; redirects are not followed (${received})`, 'redirect', status);
    }
    if (status !== 200) {
      await response.body?.cancel();
      const retryAfterMs = retryAfterFromHeaders(h.get('retry-after'), h.get('x-ratelimit-reset'), now);
      throw new JwksFetchError(`JWKS endpoint answered ${status} (${received})`, 'status', status, retryAfterMs);
    }
    const declared = Number(h.get('content-length'));
    if (Number.isFinite(declared) && declared > maxResponseBytes) {
      await response.body?.cancel();
      throw new JwksFetchError(`JWKS response declares more than the ${maxResponseBytes}-byte cap (${received})`, 'too-large', status);
    }
    const text = withoutBom(await readCapped(response, maxResponseBytes, abort, timeoutMs, received));
    checkJwkSetShape(text, h.get('content-type'), received);
    return { kind: 'ok', jwks: text, etag: h.get('etag'), maxAgeMs };
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', cancel);
  }
};

/** A UTF-8 BOM (Windows editors, some static servers) is not JSON; JSON.parse would refuse it. */
function withoutBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

const JSON_TYPE = /^application\/([\w.+-]+\+)?json$/;

/**
 * The body must be a JSON object with a `keys` array, whatever its content type; the keys
 * themselves are checked by the parser. A body that is not JSON and was not served as JSON (an
 * HTML login or error page) is a `content-type` failure; JSON of the wrong shape is `parse`.
 */
function checkJwkSetShape(text: string, contentType: string | null, received: string): void {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    const servedAsJson = contentType === null || JSON_TYPE.test(mediaType(contentType));
    throw new JwksFetchError(`JWKS response is not JSON (${received})`, servedAsJson ? 'parse' : 'content-type', 200);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc) || !Array.isArray((doc as { keys?: unknown }).keys)) {
    throw new JwksFetchError(`JWKS response is JSON but not a JWK Set: no "keys" array (${received})`, 'parse', 200);
  }
}

/** The media type alone, lower-cased, without parameters. */
function mediaType(contentType: string): string {
  const semicolon = contentType.indexOf(';');
  return (semicolon < 0 ? contentType : contentType.slice(0, semicolon)).trim().toLowerCase();
}

/**
 * "status 200, content-type text/plain" for error messages: the media type only, restricted to
 * the characters a media type may hold, truncated; nothing else from the response.
 */
function describeResponse(status: number, contentType: string | null): string {
  if (contentType === null) return `status ${status}, no content-type`;
  const cap = JWKS_DEFAULTS.maxLoggedContentTypeChars;
  const type = mediaType(contentType.slice(0, cap + 1)).replace(/[^a-z0-9!#$&^_.+/-]/g, '?');
  return `status ${status}, content-type ${type.length > cap ? `${type.slice(0, cap)}...` : type || '(empty)'}`;
}

async function readCapped(response: Response, cap: number, abort: AbortController, timeoutMs: number, received: string): Promise<string> {
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
        throw new JwksFetchError(`JWKS response exceeds the ${cap}-byte cap (${received})`, 'too-large', 200);
      }
      chunks.push(value);
    }
  } catch (err) {
    if (err instanceof JwksFetchError) throw err;
    if (abort.signal.aborted) throw new JwksFetchError(`JWKS body not received within ${timeoutMs} ms (${received})`, 'timeout', 200);
    throw new JwksFetchError(`JWKS body could not be read: ${describeNetworkError(err)} (${received})`, 'network', 200);
  } finally {
    reader.releaseLock();
  }
  return Buffer.concat(chunks, size).toString('utf8');
}

/** A short, secret-free description of a network failure (undici puts the reason in `cause`). */
function describeNetworkError(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown; message?: unknown } })?.cause;
  if (cause && typeof cause.code === 'string') return cause.code;
  // Some refusals carry only a message ("bad port"): keep a short, printable form of it.
  if (cause && typeof cause.message === 'string' && cause.message !== '') return cause.message.replace(/[^\x20-\x7e]/g, '?').slice(0, 80);
  return err instanceof Error ? err.name : 'unknown error';
}
