import { WEBHOOK_DEFAULTS } from '../jwks-auth.constants.js';
import { describeValue, isPlainObject } from '../options/option.checks.js';
import { WebhookBodyError, type WebhookAction } from './webhook.action.js';

const EVENTS = ['refresh', 'revoke', 'restore'] as const;
const KEYS = new Set(['event', 'issuer', 'kid']);

function field(body: Record<string, unknown>, name: 'issuer' | 'kid'): string | undefined {
  const value = body[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '' || value.length > WEBHOOK_DEFAULTS.maxFieldChars) {
    throw new WebhookBodyError(`${name} must be a non-empty string of at most ${WEBHOOK_DEFAULTS.maxFieldChars} characters`);
  }
  return value;
}

/**
 * A signed notice's body: `{ "event": "refresh" | "revoke" | "restore", "issuer"?, "kid"? }`, `kid`
 * required for revoke and restore. Strict (an unknown key is refused): a sender's typo such as
 * `"kid "` must not turn a revocation into a no-op that still answers 202.
 * @throws WebhookBodyError
 */
export function parseWebhookNotice(raw: Buffer): WebhookAction {
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new WebhookBodyError('the body is not JSON');
  }
  if (!isPlainObject(body)) throw new WebhookBodyError('the body must be a JSON object { event, issuer?, kid? }');
  for (const key of Object.keys(body)) if (!KEYS.has(key)) throw new WebhookBodyError(`unknown field ${describeValue(key)}: the body is { event, issuer?, kid? }`);
  const event = body.event;
  if (!EVENTS.includes(event as (typeof EVENTS)[number])) throw new WebhookBodyError(`event must be "refresh", "revoke" or "restore"`);
  const issuer = field(body, 'issuer');
  const kid = field(body, 'kid');
  if (event === 'refresh') {
    if (kid !== undefined) throw new WebhookBodyError('kid applies to revoke and restore only');
    return issuer === undefined ? { event } : { event, issuer };
  }
  if (kid === undefined) throw new WebhookBodyError(`${event as string} needs a kid`);
  return issuer === undefined ? { event: event as 'revoke' | 'restore', kid } : { event: event as 'revoke' | 'restore', issuer, kid };
}
