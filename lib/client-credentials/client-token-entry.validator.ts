import { CLIENT_CREDENTIALS_DEFAULTS, FLEET_DEFAULTS } from '../jwks-auth.constants.js';
import type { ClientTokenEntry } from './client-token.store.js';

/** Why a shared entry was not used. Safe to log: never the value. */
export type ClientTokenEntryRefusal = 'not-an-entry' | 'bad-token' | 'implausible-token-times' | 'bad-gate' | 'implausible-gate';

const SOURCES = new Set(['retry-after', 'x-ratelimit-reset', 'auth0-client-quota-limit', 'backoff', 'client-error']);
/** An encrypted access token is longer than the plain one: base64url of the ciphertext, IV, tag and a prefix. */
const MAX_STORED_TOKEN_CHARS = Math.ceil((CLIENT_CREDENTIALS_DEFAULTS.maxAccessTokenChars * 4) / 3) + 128;
const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

/**
 * Checks an entry read from a shared store (Redis) as hostile input: every member's type and
 * size, and what it may claim at `now`. A token may not claim to have been received in the future
 * (beyond the fleet's clock-skew allowance) nor to live longer than `maxLifetimeMs`; a throttle
 * gate may not close the endpoint for longer than `maxRetryAfterMs` (a planted gate could
 * otherwise stop every process of the fleet from asking for a year).
 */
export function checkClientTokenEntry(value: unknown, now: number): { ok: true; entry: ClientTokenEntry } | { ok: false; reason: ClientTokenEntryRefusal } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, reason: 'not-an-entry' };
  const { token, gate } = value as { token?: unknown; gate?: unknown };
  if (token === undefined || gate === undefined) return { ok: false, reason: 'not-an-entry' };
  let checkedToken: ClientTokenEntry['token'] = null;
  if (token !== null) {
    if (typeof token !== 'object' || Array.isArray(token)) return { ok: false, reason: 'bad-token' };
    const t = token as Record<string, unknown>;
    if (typeof t.accessToken !== 'string' || t.accessToken.length === 0 || t.accessToken.length > MAX_STORED_TOKEN_CHARS) return { ok: false, reason: 'bad-token' };
    if (typeof t.tokenType !== 'string' || t.tokenType.length === 0 || t.tokenType.length > CLIENT_CREDENTIALS_DEFAULTS.maxTokenTypeChars) return { ok: false, reason: 'bad-token' };
    if (t.scope !== undefined && (typeof t.scope !== 'string' || t.scope.length > CLIENT_CREDENTIALS_DEFAULTS.maxScopeChars)) return { ok: false, reason: 'bad-token' };
    if (!isTime(t.expiresAt) || !isTime(t.obtainedAt)) return { ok: false, reason: 'bad-token' };
    if (t.obtainedAt > now + FLEET_DEFAULTS.maxClockSkewMs || t.expiresAt < t.obtainedAt || t.expiresAt - t.obtainedAt > CLIENT_CREDENTIALS_DEFAULTS.maxLifetimeMs) {
      return { ok: false, reason: 'implausible-token-times' };
    }
    checkedToken = { accessToken: t.accessToken, tokenType: t.tokenType, expiresAt: t.expiresAt, obtainedAt: t.obtainedAt, ...(t.scope === undefined ? {} : { scope: t.scope }) };
  }
  let checkedGate: ClientTokenEntry['gate'] = null;
  if (gate !== null) {
    if (typeof gate !== 'object' || Array.isArray(gate)) return { ok: false, reason: 'bad-gate' };
    const g = gate as Record<string, unknown>;
    if (!isTime(g.notBefore) || !Number.isSafeInteger(g.attempts) || (g.attempts as number) < 0 || (g.attempts as number) > 1_000 || typeof g.source !== 'string' || !SOURCES.has(g.source)) {
      return { ok: false, reason: 'bad-gate' };
    }
    if (g.lastError !== undefined && (typeof g.lastError !== 'string' || !/^[a-z-]{1,40}$/.test(g.lastError))) return { ok: false, reason: 'bad-gate' };
    if (g.notBefore > now + CLIENT_CREDENTIALS_DEFAULTS.maxRetryAfterMs + FLEET_DEFAULTS.maxClockSkewMs) return { ok: false, reason: 'implausible-gate' };
    checkedGate = {
      notBefore: g.notBefore,
      attempts: g.attempts as number,
      source: g.source as NonNullable<ClientTokenEntry['gate']>['source'],
      ...(g.lastError === undefined ? {} : { lastError: g.lastError as NonNullable<NonNullable<ClientTokenEntry['gate']>['lastError']> }),
    };
  }
  return { ok: true, entry: { token: checkedToken, gate: checkedGate } };
}
