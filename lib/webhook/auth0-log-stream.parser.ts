import { WEBHOOK_DEFAULTS } from '../jwks-auth.constants.js';
import { isPlainObject } from '../options/option.checks.js';
import { WebhookBodyError, type WebhookAction } from './webhook.action.js';

/*
 * Auth0 Log Streams, custom webhook, as Auth0's documentation describes it:
 * - "Create Custom Log Streams Using Webhooks": each tenant log entry is POSTed to the payload URL;
 *   the stream's optional "Authorization Token" is sent as the request's Authorization header; the
 *   content format is JSON lines, a JSON array or a JSON object (one entry). All three are read here.
 * - "Log Event Type Codes" and the tenant-log reference for `sapi` ("Successful API Operation",
 *   emitted by the Management API on POST, DELETE, PATCH and PUT, with a `details` object): key
 *   rotation and revocation have no event code of their own; they are `sapi` entries for the
 *   Management API calls "Rotate the Application Signing Key" (`POST /api/v2/keys/signing/rotate`)
 *   and "Revoke an Application Signing Key by its key id" (`PUT /api/v2/keys/signing/{kid}/revoke`;
 *   the Dashboard's "Revoke Key" and "Rotate & Revoke" call the same API).
 * - A streamed entry arrives either as the log itself or wrapped as `{ log_id, data: <log> }`;
 *   both are read. The call is found in `details.request.{method,path}`; when
 *   `details.response.statusCode` is present, a failed call (not 2xx) is ignored.
 * Every other entry (logins, other API calls) is ignored: the stream may carry everything.
 */
const ROTATE = /^\/api\/v2\/keys\/signing\/rotate\/?$/;
const REVOKE = /^\/api\/v2\/keys\/signing\/([^/]+)\/revoke\/?$/;

/** The key action one log entry asks for, or null for any other entry. */
function entryAction(entry: unknown, issuer: string | undefined): WebhookAction | null {
  if (!isPlainObject(entry)) return null;
  const log = isPlainObject(entry.data) ? entry.data : entry;
  if (log.type !== 'sapi' || !isPlainObject(log.details)) return null;
  const { request, response } = log.details;
  if (!isPlainObject(request) || typeof request.path !== 'string' || typeof request.method !== 'string') return null;
  if (isPlainObject(response) && typeof response.statusCode === 'number' && (response.statusCode < 200 || response.statusCode > 299)) return null;
  const method = request.method.toUpperCase();
  const path = request.path.split('?', 1)[0];
  if (method === 'POST' && ROTATE.test(path)) return issuer === undefined ? { event: 'refresh' } : { event: 'refresh', issuer };
  const revoke = method === 'PUT' ? REVOKE.exec(path) : null;
  if (revoke === null) return null;
  let kid: string;
  try {
    kid = decodeURIComponent(revoke[1]);
  } catch {
    return null;
  }
  if (kid === '' || kid.length > WEBHOOK_DEFAULTS.maxFieldChars) return null;
  return issuer === undefined ? { event: 'revoke', kid } : { event: 'revoke', issuer, kid };
}

/**
 * The key actions in an Auth0 Log Streams delivery: a JSON array, one JSON object or JSON lines.
 * @throws WebhookBodyError when the body is none of these
 */
export function parseAuth0LogStream(raw: Buffer, issuer?: string): WebhookAction[] {
  const text = raw.toString('utf8').trim();
  let entries: unknown[];
  try {
    const parsed: unknown = JSON.parse(text);
    entries = Array.isArray(parsed) ? parsed : [parsed];
  } catch {
    // JSON lines: one entry per line.
    try {
      entries = text.split(/\r?\n/).filter((line) => line.trim() !== '').map((line) => JSON.parse(line) as unknown);
    } catch {
      throw new WebhookBodyError('the body is not JSON, a JSON array or JSON lines of Auth0 log entries');
    }
  }
  const actions: WebhookAction[] = [];
  const n = Math.min(entries.length, WEBHOOK_DEFAULTS.maxAuth0Entries);
  for (let i = 0; i < n; i++) {
    const action = entryAction(entries[i], issuer);
    if (action !== null) actions.push(action);
  }
  return actions;
}
