import { JwksFetchError, TokenEndpointError, type TokenEndpointErrorKind } from '../errors/jwks.errors.js';
import { CLIENT_CREDENTIALS_DEFAULTS } from '../jwks-auth.constants.js';
import { boundedRequest, type BoundedResponse } from '../fetch/bounded-http.request.js';
import type { ClientAuthenticator } from './client.authentication.js';
import { throttleHeadersOf, type ThrottleHeaders } from './throttle.headers.js';
import type { ClientTokenRecord } from './token.policy.js';

/** One client-credentials grant request (RFC 6749 §4.4). */
export interface TokenRequest {
  tokenEndpoint: string;
  /** Auth0's (and Okta's custom servers') `audience` form member: the API the token is for. */
  audience?: string;
  /** Space-separated scopes, normalised. */
  scope?: string;
  authenticator: ClientAuthenticator;
  timeoutMs: number;
  now: number;
  /** Aborted at shutdown. */
  signal?: AbortSignal;
  /** Removes the client's secrets from text an endpoint sent back (an `error_description` that echoes the request). */
  redact: (text: string) => string;
}

/** The outcome of one request: a token, or the error; with the throttle headers either way (a quota may be reported on a success). */
export type TokenResponseOutcome =
  | { ok: true; record: ClientTokenRecord; status: number; headers: ThrottleHeaders }
  | { ok: false; error: TokenEndpointError; headers: ThrottleHeaders | null };

const LABEL = 'token endpoint';
/** RFC 6749 §5.2: `error` is NQSCHAR (printable ASCII but `"` and `\`). */
const OAUTH_ERROR = /^[\x20\x21\x23-\x5b\x5d-\x7e]+$/;
/** An access token is sent in an Authorization header: visible ASCII only (RFC 6750's b64token and more). */
const TOKEN_CHARS = /^[\x21-\x7e]+$/;

/**
 * POSTs `grant_type=client_credentials` (with `audience` and `scope` when given, and the client's
 * authentication) as a form, on the module's bounded HTTP (timeout, size cap, no redirects), and
 * validates the answer strictly. Never rejects: failures come back as `{ ok: false }` with a
 * `TokenEndpointError` whose message holds no body, token or secret.
 */
export async function requestClientToken(request: TokenRequest): Promise<TokenResponseOutcome> {
  const { tokenEndpoint, audience, scope, authenticator, timeoutMs, now, signal } = request;
  let auth: ReturnType<ClientAuthenticator['parts']>;
  try {
    auth = authenticator.parts(tokenEndpoint, now);
  } catch {
    // Signing the assertion failed (a key the runtime cannot use): a configuration problem, retried slowly.
    return { ok: false, error: new TokenEndpointError(`client authentication (${authenticator.method}) could not be built; check privateKey and signingAlgorithm`, 'invalid-client'), headers: null };
  }
  const form = new URLSearchParams({ grant_type: 'client_credentials', ...(audience === undefined ? {} : { audience }), ...(scope === undefined ? {} : { scope }), ...auth.form });
  // What this request carried to authenticate (the Basic header, the assertion), as sent: an endpoint that echoes the request must not put it in our messages.
  const credentials = credentialTexts(auth);
  const redact = credentials.length === 0 ? request.redact : (text: string) => scrub(request.redact(text), credentials);
  try {
    return await boundedRequest(
      {
        label: LABEL,
        uri: tokenEndpoint,
        method: 'POST',
        body: form.toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', ...auth.headers },
        timeoutMs,
        maxResponseBytes: CLIENT_CREDENTIALS_DEFAULTS.maxResponseBytes,
        signal,
      },
      (response) => readAnswer(response, { ...request, redact }),
    );
  } catch (err) {
    if (err instanceof TokenEndpointError) return { ok: false, error: err, headers: null };
    if (err instanceof JwksFetchError) {
      const kind: TokenEndpointErrorKind = err.kind === 'timeout' ? 'timeout' : err.kind === 'network' ? 'network' : 'invalid-response';
      // boundedRequest's messages name the label, the status and the content type: nothing of the body.
      return { ok: false, error: new TokenEndpointError(err.message.replace(/key set is shutting down/, 'service is shutting down'), kind, err.status), headers: null };
    }
    return { ok: false, error: new TokenEndpointError(`${LABEL} request failed`, 'network'), headers: null };
  }
}

async function readAnswer(response: BoundedResponse, request: TokenRequest): Promise<TokenResponseOutcome> {
  const { status, received } = response;
  const headers = throttleHeadersOf(response.headers);
  if (status === 200) {
    const body = parseJson(await response.text());
    const record = tokenRecord(body, request.now, received);
    return typeof record === 'string' ? { ok: false, error: new TokenEndpointError(`${LABEL} answered 200 without a usable token: ${record} (${received})`, 'invalid-response', status), headers } : { ok: true, record, status, headers };
  }
  if (status >= 400 && status < 500 && status !== 429) {
    const oauth = oauthError(parseJson(await response.text().catch(() => '')), request.redact);
    if (oauth !== null) {
      const kind: TokenEndpointErrorKind = oauth.error === 'invalid_client' || oauth.error === 'unauthorized_client' ? 'invalid-client' : 'oauth-error';
      const hint = kind === 'invalid-client' ? ': check clientId and the client secret or key' : '';
      return { ok: false, error: new TokenEndpointError(`${LABEL} refused the request with ${status} ${oauth.error}${oauth.description ? ` (${oauth.description})` : ''}${hint}`, kind, status, oauth.error), headers };
    }
    return { ok: false, error: new TokenEndpointError(`${LABEL} answered ${status} (${received})`, status === 401 ? 'invalid-client' : 'status', status), headers };
  }
  await response.discard();
  const redirect = status >= 300 && status < 400 ? '; redirects are not followed' : '';
  return { ok: false, error: new TokenEndpointError(`${LABEL} answered ${status}${redirect} (${received})`, 'status', status), headers };
}

/** Form members and headers that are not credentials: the rest of an authentication is. */
const NOT_CREDENTIALS = new Set(['client_id', 'client_assertion_type']);

/** Each credential value of one request as it may come back: as sent, URI- or form-encoded, and a Basic header's base64 on its own. */
function credentialTexts(auth: ReturnType<ClientAuthenticator['parts']>): string[] {
  const values: string[] = [];
  for (const [name, value] of Object.entries(auth.form)) if (!NOT_CREDENTIALS.has(name)) values.push(value);
  for (const value of Object.values(auth.headers)) {
    values.push(value);
    const space = value.indexOf(' ');
    if (space > 0) values.push(value.slice(space + 1));
  }
  const all = new Set<string>();
  for (const v of values) for (const form of [v, encodeURIComponent(v), new URLSearchParams({ v }).toString().slice(2)]) if (form.length >= 4) all.add(form);
  // Longest first: a value inside another (the base64 in its header) must not break the longer one's match.
  return [...all].sort((a, b) => b.length - a.length);
}

function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) out = out.split(secret).join('***');
  return out;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The token response as a record, or what is wrong with it (a description that names members, never values). */
function tokenRecord(body: unknown, now: number, received: string): ClientTokenRecord | string {
  const d = CLIENT_CREDENTIALS_DEFAULTS;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return body === undefined ? `the body is not JSON` : 'the body is not a JSON object';
  const { access_token: accessToken, token_type: tokenType, expires_in: expiresIn, scope } = body as Record<string, unknown>;
  if (typeof accessToken !== 'string' || accessToken === '') return 'access_token is missing or not a non-empty string';
  if (accessToken.length > d.maxAccessTokenChars) return `access_token is longer than ${d.maxAccessTokenChars} characters`;
  if (!TOKEN_CHARS.test(accessToken)) return 'access_token holds characters a header cannot carry';
  if (typeof tokenType !== 'string' || tokenType === '' || tokenType.length > d.maxTokenTypeChars || !/^[\x21-\x7e]+$/.test(tokenType)) return 'token_type is missing or not a short word';
  let lifetimeMs = d.defaultLifetimeMs;
  if (expiresIn !== undefined) {
    // A few servers send the number as a string ("3599"): accept digits only.
    const seconds = typeof expiresIn === 'number' ? expiresIn : typeof expiresIn === 'string' && /^\d{1,12}$/.test(expiresIn) ? Number(expiresIn) : NaN;
    if (!Number.isFinite(seconds) || seconds <= 0) return 'expires_in is not a positive number of seconds';
    lifetimeMs = Math.min(seconds * 1000, d.maxLifetimeMs);
    // A token spent on arrival would make every call a request (a success sets no gate): refused, so the backoff applies.
    if (lifetimeMs < d.minLifetimeMs) return `expires_in is under ${d.minLifetimeMs / 1000} s: the token would be spent before it could be used`;
  }
  if (scope !== undefined && (typeof scope !== 'string' || scope.length > d.maxScopeChars)) return 'scope is not a string of reasonable length';
  void received;
  return { accessToken, tokenType, expiresAt: now + lifetimeMs, obtainedAt: now, ...(typeof scope === 'string' ? { scope } : {}) };
}

/** RFC 6749 §5.2's `error` and `error_description`, bounded and printable; null when the body is not one. */
function oauthError(body: unknown, redact: (text: string) => string): { error: string; description: string } | null {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return null;
  const { error, error_description: description } = body as Record<string, unknown>;
  if (typeof error !== 'string' || error === '' || error.length > 64 || !OAUTH_ERROR.test(error)) return null;
  const cap = CLIENT_CREDENTIALS_DEFAULTS.maxErrorDescriptionChars;
  // Scrubbed whole, then cut: a cut first could split a secret so that its first part escapes the scrub.
  let text = typeof description === 'string' ? redact(description).slice(0, 4 * cap).replace(/[^\x20-\x7e]/g, '?') : '';
  if (text.length > cap) text = `${text.slice(0, cap)}...`;
  return { error: redact(error), description: text };
}
