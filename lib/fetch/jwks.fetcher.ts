import { JwksFetchError } from '../errors/jwks.errors.js';
import { boundedRequest, parseJsonBody, refuseUnlessOk } from './bounded-http.request.js';
import { freshnessFromHeaders } from './http-cache.headers.js';

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

/** Starts every message of a JWKS retrieval error. */
const LABEL = 'JWKS';

/**
 * Bounded HTTP retrieval (see `boundedRequest`: one timeout, no redirects, a size cap, the
 * caller's signal). Any content type is accepted when the body is a JWK Set (storage buckets and
 * static servers serve `application/octet-stream`, `binary/octet-stream` or `text/plain`, as jose
 * and jwks-rsa accept); a leading UTF-8 BOM is dropped. Errors name the status and the (sanitised)
 * content type received, never the body or another header.
 */
export const httpJwksFetcher: JwksFetcher = ({ uri, etag, timeoutMs, maxResponseBytes, now, signal }) =>
  boundedRequest(
    {
      label: LABEL,
      uri,
      timeoutMs,
      maxResponseBytes,
      signal,
      headers: { accept: 'application/jwk-set+json, application/json', ...(etag ? { 'if-none-match': etag } : {}) },
    },
    async (response): Promise<JwksFetchResult> => {
      const h = response.headers;
      const maxAgeMs = freshnessFromHeaders(h.get('cache-control'), h.get('expires'), h.get('date'), now, h.get('age'));
      if (response.status === 304) {
        await response.discard();
        // Only the set we asked about (If-None-Match) can be "not modified"; a bare 304 revalidates nothing.
        if (etag) return { kind: 'not-modified', etag: h.get('etag') ?? etag, maxAgeMs };
        throw new JwksFetchError(`JWKS endpoint answered 304 to an unconditional request (${response.received})`, 'status', 304);
      }
      await refuseUnlessOk(LABEL, response, now);
      const text = await response.text();
      checkJwkSetShape(parseJsonBody(LABEL, text, response), response.received);
      return { kind: 'ok', jwks: text, etag: h.get('etag'), maxAgeMs };
    },
  );

/**
 * The body must be a JSON object with a `keys` array, whatever its content type; the keys
 * themselves are checked by the parser. JSON of the wrong shape is a `parse` failure.
 */
function checkJwkSetShape(doc: unknown, received: string): void {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc) || !Array.isArray((doc as { keys?: unknown }).keys)) {
    throw new JwksFetchError(`JWKS response is JSON but not a JWK Set: no "keys" array (${received})`, 'parse', 200);
  }
}
