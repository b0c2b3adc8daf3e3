import { JwksFetchError } from '../errors/jwks.errors.js';
import { JWKS_DEFAULTS, LOOPBACK_HOSTS } from '../jwks-auth.constants.js';
import { boundedRequest, parseJsonBody, refuseUnlessOk } from './bounded-http.request.js';
import { freshnessFromHeaders } from './http-cache.headers.js';

export interface DiscoveryRequest {
  /** The configured issuer, exactly as tokens carry it in `iss`. */
  issuer: string;
  timeoutMs: number;
  maxResponseBytes: number;
  /** Hosts (lower-case hostnames, optionally with :port) a jwks_uri may be on besides the issuer's own host. */
  allowedJwksHosts: readonly string[];
  now: number;
  /** Aborted when the key set shuts down: the request ends at once instead of at its timeout. */
  signal?: AbortSignal;
  /**
   * Read only this document, with no fallback: set on re-reads to the one that answered first, so
   * a later 404 of the OpenID document can never steer discovery to an RFC 8414 document that
   * someone else on the host may serve.
   */
  only?: DiscoveryDocumentKind;
}

/** The two documents: OpenID Connect Discovery's, and RFC 8414's. */
export type DiscoveryDocumentKind = 'oidc' | 'rfc8414';

export interface DiscoveryResult {
  /** The validated jwks_uri. */
  jwksUri: string;
  /** The document URL that answered (for logs: origin + path only). */
  documentUri: string;
  /** Freshness the document's Cache-Control/Expires gave, if any. */
  maxAgeMs?: number;
  /** Which document answered. */
  document?: DiscoveryDocumentKind;
}

/**
 * Finds an issuer's `jwks_uri` from its discovery document. The default implementation is
 * `httpDiscoveryFetcher`.
 * @throws JwksFetchError
 */
export type DiscoveryFetcher = (request: DiscoveryRequest) => Promise<DiscoveryResult>;

const OIDC_LABEL = 'discovery document';
const RFC8414_LABEL = 'RFC 8414 discovery document';

/**
 * The two document URLs tried, in order: OpenID Connect Discovery 1.0 §4 appends
 * `/.well-known/openid-configuration` to the issuer (trailing `/` removed); RFC 8414 §3 inserts
 * `/.well-known/oauth-authorization-server` between the host and the issuer's path.
 * @throws JwksFetchError kind 'discovery' when the issuer is not an https: URL (http: on loopback
 *   only) without query, fragment or credentials (RFC 8414 §2): there is nothing to discover from.
 */
export function discoveryDocumentUris(issuer: string): [oidc: string, rfc8414: string] {
  const url = issuerUrl(issuer);
  const path = url.pathname.replace(/\/+$/, '');
  return [`${url.origin}${path}/.well-known/openid-configuration`, `${url.origin}/.well-known/oauth-authorization-server${path}`];
}

/**
 * Discovery over bounded HTTP (the JWKS fetcher's discipline: one timeout, no redirects, a size
 * cap, the caller's signal). The OIDC document is tried first; the RFC 8414 one only when the
 * first answers 404 or 410: any other failure (an outage, a rate limit, a timeout, a redirect) is
 * the error, so a struggling IdP is not sent a second request. One timeout covers both requests.
 *
 * The document must name this very issuer (OIDC Discovery §4.3, RFC 8414 §3.3) and a `jwks_uri`
 * on https: (http: on loopback only), without credentials, on the issuer's host or one of
 * `allowedJwksHosts`: whoever can change the document must not be able to choose the keys.
 * Everything else in it, `id_token_signing_alg_values_supported` included, is ignored: the
 * configured algorithms are never widened.
 */
export const httpDiscoveryFetcher: DiscoveryFetcher = async (request) => {
  const [oidc, rfc8414] = discoveryDocumentUris(request.issuer);
  if (request.only !== undefined) {
    const [label, uri] = request.only === 'oidc' ? [OIDC_LABEL, oidc] : [RFC8414_LABEL, rfc8414];
    const only = await fetchDocument(label, uri, request, request.timeoutMs);
    if (!('gone' in only)) return { ...only, document: request.only };
    throw new JwksFetchError(`${label} at ${uri} answered ${only.gone}; the other document is not read once this one has answered`, 'discovery', only.gone);
  }
  const started = performance.now();
  const first = await fetchDocument(OIDC_LABEL, oidc, request, request.timeoutMs);
  if (!('gone' in first)) return { ...first, document: 'oidc' };
  const left = request.timeoutMs - (performance.now() - started);
  if (left <= 0) throw new JwksFetchError(`${RFC8414_LABEL} request timed out after ${request.timeoutMs} ms`, 'timeout');
  const second = await fetchDocument(RFC8414_LABEL, rfc8414, request, Math.ceil(left));
  if (!('gone' in second)) return { ...second, document: 'rfc8414' };
  throw new JwksFetchError(
    `no discovery document: ${oidc} answered ${first.gone} and ${rfc8414} answered ${second.gone}; check the issuer, or configure its jwksUri`,
    'discovery',
    second.gone,
  );
};

/** One document: its result, or `gone` when it answered 404/410 (the other location may have it). */
async function fetchDocument(label: string, uri: string, request: DiscoveryRequest, timeoutMs: number): Promise<DiscoveryResult | { gone: number }> {
  const { maxResponseBytes, signal, now } = request;
  return boundedRequest({ label, uri, timeoutMs, maxResponseBytes, signal, headers: { accept: 'application/json' } }, async (response) => {
    if (response.status === 404 || response.status === 410) {
      await response.discard();
      return { gone: response.status };
    }
    // Named with its URL (built from the issuer, which has no query or credentials): a 503 says which document answered.
    await refuseUnlessOk(label, response, now, uri);
    const doc = parseJsonBody(label, await response.text(), response);
    const jwksUri = checkDocument(doc, uri, request);
    const h = response.headers;
    return { jwksUri, documentUri: uri, maxAgeMs: freshnessFromHeaders(h.get('cache-control'), h.get('expires'), h.get('date'), now, h.get('age')) };
  });
}

/** The document's `jwks_uri`, once the document names our issuer and the URI is one we may fetch keys from. */
function checkDocument(doc: unknown, documentUri: string, request: DiscoveryRequest): string {
  const refuse = (problem: string) => new JwksFetchError(`discovery document at ${documentUri}: ${problem}`, 'discovery', 200);
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw refuse('not a JSON object');
  const { issuer, jwks_uri: jwksUri } = doc as { issuer?: unknown; jwks_uri?: unknown };

  if (issuer === undefined) throw refuse('no "issuer" member');
  if (issuer !== request.issuer) {
    const slashOnly = typeof issuer === 'string' && issuer.replace(/\/+$/, '') === request.issuer.replace(/\/+$/, '');
    throw refuse(
      `its issuer ${describeDocumentValue(issuer)} does not equal the configured issuer ${quote(request.issuer)}` +
        (slashOnly ? ': they differ by a trailing slash; configure the issuer exactly as its tokens carry it in "iss"' : ''),
    );
  }

  if (jwksUri === undefined) throw refuse('no "jwks_uri" member');
  if (typeof jwksUri !== 'string') throw refuse(`jwks_uri is not a string: ${describeDocumentValue(jwksUri)}`);
  let url: URL;
  try {
    url = new URL(jwksUri);
  } catch {
    throw refuse(`jwks_uri is not a URL: ${quoteUrl(jwksUri)}`);
  }
  if (url.username || url.password) throw refuse('jwks_uri must not contain credentials');
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK_HOSTS.test(url.hostname))) {
    throw refuse(`jwks_uri must use https: (http: on localhost, 127.0.0.0/8 and [::1] only), got ${quoteUrl(jwksUri)}`);
  }
  const issuerHost = new URL(request.issuer).host;
  if (url.host !== issuerHost && !request.allowedJwksHosts.some((allowed) => sameHost(allowed, url))) {
    throw refuse(`jwks_uri is on host ${quote(url.host)}, not the issuer's ${quote(issuerHost)}; add it to allowedJwksHosts if that host is the IdP's`);
  }
  return jwksUri;
}

/** `allowed` ("host" or "host:port", any case) names the host and port of `url` (default ports elided as URL does). */
function sameHost(allowed: string, url: URL): boolean {
  // Anything but a host and port (a path, credentials) would parse as something else: never a match.
  if (/[/?#@\\\s]/.test(allowed)) return false;
  try {
    return new URL(`${url.protocol}//${allowed}`).host === url.host;
  } catch {
    return false;
  }
}

/** The configured issuer as a URL discovery can start from. */
function issuerUrl(issuer: string): URL {
  const refuse = (problem: string) =>
    new JwksFetchError(`issuer ${problem}: discovery needs the issuer's https: URL; otherwise configure its jwksUri`, 'discovery');
  if (/[?#]/.test(issuer)) throw refuse(`${quoteUrl(issuer)} has a query or fragment`);
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    throw refuse(`${quote(issuer)} is not a URL`);
  }
  if (url.username || url.password) throw refuse('contains credentials');
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK_HOSTS.test(url.hostname))) {
    throw refuse(`${quoteUrl(issuer)} does not use https: (http: on localhost, 127.0.0.0/8 and [::1] only)`);
  }
  return url;
}

/** A value from the document as an error may show it: a short quoted string, or only its type. */
function describeDocumentValue(value: unknown): string {
  if (typeof value === 'string') return quote(value);
  return value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`;
}

/** A URL with its credentials and query masked (either may hold a secret), quoted short. */
function quoteUrl(value: string): string {
  return quote(value.replace(/^([^:/?#\\]*:\/\/)[^/?#\\]*@/, '$1***@').replace(/[?#].*$/s, '?...'));
}

/** Printable ASCII only (no control sequences reach a log), truncated, in double quotes. */
function quote(value: string): string {
  const cap = JWKS_DEFAULTS.maxLoggedDocumentValueChars;
  const printable = value.slice(0, cap + 1).replace(/[^\x20-\x7e]/g, '?');
  return JSON.stringify(printable.length > cap ? `${printable.slice(0, cap)}...` : printable);
}
