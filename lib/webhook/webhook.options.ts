import { WEBHOOK_DEFAULTS } from '../jwks-auth.constants.js';
import { describeValue, isPlainObject, unknownKeys } from '../options/option.checks.js';

/**
 * The rotation webhook (`webhook`), off unless set. A POST to `path` (default `/jwks-auth/webhook`)
 * carrying either
 * - a signed notice: header `x-jwks-signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`,
 *   body `{ "event": "refresh" | "revoke" | "restore", "issuer"?, "kid"? }`; or
 * - with `auth0`, an Auth0 Log Streams custom-webhook delivery whose Authorization header equals
 *   `auth0.authorization` (the stream's "Authorization Token"): key rotations refresh, key
 *   revocations revoke the kid.
 * Answers 202 when taken, 401 (and does nothing) when not authenticated, 400 for an authenticated
 * body it cannot act on, 413 above 64 KiB.
 */
export interface JwksWebhookOptions {
  /** The HMAC secret of signed notices: at least 32 characters (e.g. `openssl rand -hex 32`). Optional with `auth0`. */
  secret?: string;
  /** Where the webhook listens; default `/jwks-auth/webhook`. */
  path?: string;
  /** Accept Auth0 Log Streams deliveries. */
  auth0?: {
    /** The exact Authorization header the stream sends (its "Authorization Token"), e.g. `Bearer <random>`; at least 16 characters. */
    authorization: string;
    /** Which configured issuer the tenant is; optional with one issuer. */
    issuer?: string;
  };
}

/** The `webhook` option after validation. */
export interface ResolvedWebhookOptions {
  readonly path: string;
  readonly secret: string | null;
  readonly auth0: { readonly authorization: string; readonly issuer: string | undefined } | null;
}

const KNOWN = ['secret', 'path', 'auth0'] as const;
const AUTH0_KNOWN = ['authorization', 'issuer'] as const;
/** A plain absolute path: no query, no `..`, no `//`, so it is compared with the request path as it is. */
const PATH = /^(\/[A-Za-z0-9._~-]+)+$/;
const MIN_SECRET_CHARS = 32;
const MIN_AUTHORIZATION_CHARS = 16;

/** The `webhook` option: null when absent. Secrets are never echoed in a message. */
export function webhookOption(problems: string[], value: unknown, issuers: readonly string[]): ResolvedWebhookOptions | null {
  if (value === undefined) return null;
  if (!isPlainObject(value)) {
    problems.push(`webhook must be { secret, path?, auth0? }, got ${describeValue(value)}`);
    return null;
  }
  const before = problems.length;
  unknownKeys(problems, 'webhook.', value, KNOWN);
  const { secret, path, auth0 } = value;
  if (secret !== undefined && (typeof secret !== 'string' || secret.length < MIN_SECRET_CHARS)) {
    problems.push(`webhook.secret must be a string of at least ${MIN_SECRET_CHARS} characters (e.g. openssl rand -hex 32)`);
  }
  if (path !== undefined && (typeof path !== 'string' || path.length > 200 || !PATH.test(path) || path.split('/').includes('..'))) {
    problems.push(`webhook.path must be an absolute path of letters, digits and . _ ~ - segments such as "/jwks-auth/webhook", got ${describeValue(path)}`);
  }
  let resolvedAuth0: ResolvedWebhookOptions['auth0'] = null;
  if (auth0 !== undefined) {
    if (!isPlainObject(auth0)) problems.push('webhook.auth0 must be { authorization, issuer? }');
    else {
      unknownKeys(problems, 'webhook.auth0.', auth0, AUTH0_KNOWN);
      const { authorization, issuer } = auth0;
      // A header value: printable ASCII, no line break (it could never match a real header).
      if (typeof authorization !== 'string' || authorization.length < MIN_AUTHORIZATION_CHARS || authorization.length > 1024 || !/^[\x20-\x7e]+$/.test(authorization)) {
        problems.push(`webhook.auth0.authorization must be the stream's Authorization header value, at least ${MIN_AUTHORIZATION_CHARS} printable characters (e.g. "Bearer <random>")`);
      }
      if (issuer !== undefined && (typeof issuer !== 'string' || !issuers.includes(issuer))) {
        problems.push(`webhook.auth0.issuer must be one of the configured issuers, got ${describeValue(issuer)}`);
      } else if (issuer === undefined && issuers.length > 1) {
        problems.push('webhook.auth0.issuer is required with several issuers: name the Auth0 tenant\'s issuer');
      }
      resolvedAuth0 = Object.freeze({ authorization: authorization as string, issuer: issuer as string | undefined });
    }
  }
  if (secret === undefined && auth0 === undefined) problems.push('webhook needs a secret (signed notices), auth0 (Auth0 Log Streams) or both');
  if (problems.length > before) return null;
  return Object.freeze({ path: (path as string | undefined) ?? WEBHOOK_DEFAULTS.path, secret: (secret as string | undefined) ?? null, auth0: resolvedAuth0 });
}
