import { JwksFetchError } from '../errors/jwks.errors.js';
import { JWKS_DEFAULTS } from '../jwks-auth.constants.js';
import { retryAfterFromHeaders } from './http-cache.headers.js';

/**
 * The HTTP discipline every retrieval from the IdP follows (the JWKS, the discovery document), on
 * Node's built-in fetch (undici): one timeout over connect, headers and body; no redirects (a
 * redirect could point us anywhere); the body read as a stream and abandoned at the size cap, so a
 * hostile endpoint cannot grow our memory; the caller's signal (shutdown) ends the request at once.
 * Errors name the status and the sanitised content type received, never the body or another header.
 */
export interface BoundedRequest {
  /** What is fetched, at the start of every message: 'JWKS', 'discovery document'. */
  label: string;
  uri: string;
  headers: Record<string, string>;
  timeoutMs: number;
  maxResponseBytes: number;
  /** Aborted when the key set shuts down: the request ends at once instead of at its timeout. */
  signal?: AbortSignal;
  /** 'GET' unless given (the OAuth token endpoint is POSTed to). */
  method?: 'GET' | 'POST';
  /** The request body (a POST's form), sent as is. */
  body?: string;
}

/** A response whose headers have arrived; the body is still unread and within the same timeout. */
export interface BoundedResponse {
  status: number;
  headers: Headers;
  /** "status 200, content-type application/json", for error messages. */
  received: string;
  /** The body as text, capped at `maxResponseBytes`, a leading UTF-8 BOM dropped. */
  text(): Promise<string>;
  /** Abandons the body (a status we will not read). */
  discard(): Promise<void>;
}

/**
 * Sends the request and hands the response to `read` while the timeout and the caller's signal
 * still govern it; the timer and the listener are released when `read` settles.
 * @throws JwksFetchError kind 'network' (also when cancelled) or 'timeout', and whatever `read` throws
 */
export async function boundedRequest<T>(request: BoundedRequest, read: (response: BoundedResponse) => Promise<T>): Promise<T> {
  const { label, uri, headers, timeoutMs, maxResponseBytes, signal, method, body } = request;
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
      response = await fetch(uri, { redirect: 'manual', signal: abort.signal, headers, ...(method === undefined ? {} : { method }), ...(body === undefined ? {} : { body }) });
    } catch (err) {
      if (signal?.aborted) throw new JwksFetchError(`${label} request cancelled: the key set is shutting down`, 'network');
      if (abort.signal.aborted) throw new JwksFetchError(`${label} request timed out after ${timeoutMs} ms`, 'timeout');
      throw new JwksFetchError(`${label} request failed: ${describeNetworkError(err)}`, 'network');
    }
    const status = response.status;
    const received = describeResponse(status, response.headers.get('content-type'));
    return await read({
      status,
      headers: response.headers,
      received,
      text: async () => {
        const declared = Number(response.headers.get('content-length'));
        if (Number.isFinite(declared) && declared > maxResponseBytes) {
          await response.body?.cancel();
          throw new JwksFetchError(`${label} response declares more than the ${maxResponseBytes}-byte cap (${received})`, 'too-large', status);
        }
        return withoutBom(await readCapped(response, request, abort, received));
      },
      discard: async () => {
        await response.body?.cancel();
      },
    });
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', cancel);
  }
}

/**
 * Refuses a redirect (any 3xx) or any status but 200; a refusal carries the IdP's own wait
 * (`Retry-After`, `x-ratelimit-reset`) as `retryAfterMs`. Handle the statuses that mean something
 * else (a 304, a 404 that sends us elsewhere) before calling this.
 * @throws JwksFetchError kind 'redirect' or 'status'
 */
export async function refuseUnlessOk(label: string, response: BoundedResponse, now: number, uri?: string): Promise<void> {
  const { status, received, headers } = response;
  const endpoint = uri === undefined ? `${label} endpoint` : `${label} endpoint ${uri}`;
  if (status === 200) return;
  await response.discard();
  if (status >= 300 && status < 400) {
    throw new JwksFetchError(`${endpoint} answered ${status}; redirects are not followed (${received})`, 'redirect', status);
  }
  const retryAfterMs = retryAfterFromHeaders(headers.get('retry-after'), headers.get('x-ratelimit-reset'), now);
  throw new JwksFetchError(`${endpoint} answered ${status} (${received})`, 'status', status, retryAfterMs);
}

const JSON_TYPE = /^application\/([\w.+-]+\+)?json$/;

/**
 * Parses a 200 body as JSON. A body that is not JSON and was not served as JSON (an HTML login or
 * error page) is a `content-type` failure; one served as JSON (or untyped) is `parse`. Any content
 * type is accepted when the body is JSON: storage buckets and static servers serve
 * `application/octet-stream` or `text/plain`.
 * @throws JwksFetchError kind 'content-type' or 'parse'
 */
export function parseJsonBody(label: string, text: string, response: BoundedResponse): unknown {
  try {
    return JSON.parse(text);
  } catch {
    const contentType = response.headers.get('content-type');
    const servedAsJson = contentType === null || JSON_TYPE.test(mediaType(contentType));
    throw new JwksFetchError(`${label} response is not JSON (${response.received})`, servedAsJson ? 'parse' : 'content-type', response.status);
  }
}

/** A UTF-8 BOM (Windows editors, some static servers) is not JSON; JSON.parse would refuse it. */
function withoutBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
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

async function readCapped(response: Response, request: BoundedRequest, abort: AbortController, received: string): Promise<string> {
  const { label, maxResponseBytes: cap, timeoutMs, signal } = request;
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
        throw new JwksFetchError(`${label} response exceeds the ${cap}-byte cap (${received})`, 'too-large', response.status);
      }
      chunks.push(value);
    }
  } catch (err) {
    if (err instanceof JwksFetchError) throw err;
    if (signal?.aborted) throw new JwksFetchError(`${label} body cancelled: the key set is shutting down (${received})`, 'network', response.status);
    if (abort.signal.aborted) throw new JwksFetchError(`${label} body not received within ${timeoutMs} ms (${received})`, 'timeout', response.status);
    throw new JwksFetchError(`${label} body could not be read: ${describeNetworkError(err)} (${received})`, 'network', response.status);
  } finally {
    reader.releaseLock();
  }
  return Buffer.concat(chunks, size).toString('utf8');
}

/** A short, secret-free description of a network failure (undici puts the reason in `cause`). */
/** What the common network error codes mean, for an on-call reading `lastError` or a log line. */
const NETWORK_CODES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset by the server',
  UND_ERR_SOCKET: 'connection closed by the server',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'DNS lookup failed for now',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  CERT_HAS_EXPIRED: 'the TLS certificate has expired',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'the TLS certificate is self-signed',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'the TLS certificate cannot be verified',
  ERR_TLS_CERT_ALTNAME_INVALID: "the TLS certificate does not name this host",
};

function describeNetworkError(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown; message?: unknown } })?.cause;
  if (cause && typeof cause.code === 'string') {
    const meaning = Object.hasOwn(NETWORK_CODES, cause.code) ? NETWORK_CODES[cause.code] : undefined;
    return meaning === undefined ? cause.code : `${meaning} (${cause.code})`;
  }
  // Some refusals carry only a message ("bad port"): keep a short, printable form of it.
  if (cause && typeof cause.message === 'string' && cause.message !== '') return cause.message.replace(/[^\x20-\x7e]/g, '?').slice(0, 80);
  return err instanceof Error ? err.name : 'unknown error';
}
