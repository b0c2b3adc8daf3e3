import { JwksFetchError, TokenEndpointError } from '../errors/jwks.errors.js';
import { CLIENT_CREDENTIALS_DEFAULTS, LOOPBACK_HOSTS } from '../jwks-auth.constants.js';
import { boundedRequest, parseJsonBody, refuseUnlessOk } from '../fetch/bounded-http.request.js';
import { discoveryDocumentUris } from '../fetch/discovery.fetcher.js';

/**
 * The issuer's `token_endpoint`, from its OpenID Connect discovery document (read with the
 * JWKS discovery's discipline: bounded, no redirects). The document must name this issuer, and
 * the endpoint must be https: (http: on loopback only) on the issuer's own host: whoever can alter
 * the document must not be able to send our client secret elsewhere.
 * @throws TokenEndpointError kind 'discovery' (or 'network'/'timeout')
 */
export async function discoverTokenEndpoint(issuer: string, timeoutMs: number, signal?: AbortSignal): Promise<string> {
  let uri: string;
  try {
    uri = discoveryDocumentUris(issuer)[0];
  } catch (err) {
    throw new TokenEndpointError((err as Error).message, 'discovery');
  }
  const label = 'discovery document';
  try {
    return await boundedRequest({ label, uri, timeoutMs, maxResponseBytes: CLIENT_CREDENTIALS_DEFAULTS.maxResponseBytes, signal, headers: { accept: 'application/json' } }, async (response) => {
      await refuseUnlessOk(label, response, Date.now(), uri);
      const doc = parseJsonBody(label, await response.text(), response) as Record<string, unknown> | null;
      const refuse = (problem: string) => new TokenEndpointError(`discovery document at ${uri}: ${problem}`, 'discovery', 200);
      if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw refuse('not a JSON object');
      if (doc.issuer !== issuer) throw refuse('its issuer is not the configured issuer');
      const endpoint = doc.token_endpoint;
      if (typeof endpoint !== 'string') throw refuse('no token_endpoint string');
      let url: URL;
      try {
        url = new URL(endpoint);
      } catch {
        throw refuse('token_endpoint is not a URL');
      }
      if (url.username || url.password || url.hash) throw refuse('token_endpoint has credentials or a fragment');
      if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK_HOSTS.test(url.hostname))) throw refuse('token_endpoint must use https:');
      if (url.host !== new URL(issuer).host) throw refuse(`token_endpoint is on host ${JSON.stringify(url.host.slice(0, 100))}, not the issuer's; configure tokenEndpoint if that is intended`);
      return endpoint;
    });
  } catch (err) {
    if (err instanceof TokenEndpointError) throw err;
    if (err instanceof JwksFetchError) throw new TokenEndpointError(err.message, err.kind === 'timeout' ? 'timeout' : err.kind === 'network' ? 'network' : 'discovery', err.status);
    throw new TokenEndpointError('discovery of the token endpoint failed', 'discovery');
  }
}
