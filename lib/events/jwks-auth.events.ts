import type { FetchReason } from '../cache/key-set.policy.js';
import type { KeySetLog } from '../cache/key-set.source.js';
import { systemClock, type Clock } from '../cache/clock.js';
import { LOG_FLOOD_INTERVAL_MS } from '../jwks-auth.constants.js';
import { kidFingerprint } from './kid.fingerprint.js';
import { LogFloodLimiter } from './log-flood.limiter.js';
import type { ClientCredentialsEventBody } from '../client-credentials/client-credentials.events.js';

/**
 * What the key set and the verifier do, as typed events, for logs and metrics. Never a token;
 * kids only where the event is about a kid (`key-set-changed`, `key-revoked`, `key-restored`):
 * a listener that logs must not print them raw (see `kidFingerprint`). `jwksUri` is the URI as
 * logged: scheme, host and path, no query.
 */
export type JwksAuthEvent = JwksAuthEventBody & {
  /** The issuer whose key set (or token) the event is about: a low-cardinality label for metrics. */
  issuer: string;
};

/** The events without their issuer, as a key set raises them (its issuer is added on delivery). */
export type JwksAuthEventBody =
  | {
      type: 'fetch-finished';
      jwksUri: string;
      trigger: FetchReason;
      outcome: 'ok' | 'not-modified' | 'failed';
      /** HTTP status when there was one (a failed fetch may have none: network, timeout). */
      status?: number;
      durationMs: number;
      /** A failed fetch: its stable code and message, and when the next attempt is due. */
      error?: { code: string; kind: string; message: string };
      nextAttemptInMs?: number;
    }
  /** Keys of a fetched set that cannot verify (bad type, size, curve, use): the reasons, not the keys. */
  | { type: 'keys-skipped'; jwksUri: string; count: number; reasons: readonly string[] }
  /** The held raw set changed (a fetch, the store at startup, or a state the store pushed). */
  | { type: 'key-set-changed'; jwksUri: string; origin: 'fetch' | 'store' | 'watch'; kidsAdded: readonly string[]; kidsRemoved: readonly string[]; keyCount: number }
  /**
   * A token named a kid the held set does not know (the kid itself is not given). `action`: what
   * was done: `refetch` (a fetch started or was joined), or why not (`cooldown`, `backoff`, `busy`
   * past `cache.maxWaiters`, `unavailable` with no usable set).
   */
  | { type: 'unknown-kid'; jwksUri: string; action: UnknownKidAction }
  /** A refetch for an unknown kid was refused: inside the cooldown, backing off, or too many waiters. */
  | { type: 'refetch-refused'; jwksUri: string; reason: 'cooldown' | 'backoff' | 'busy' }
  /**
   * The held set serves as last-known-good: a fetch failed while it was usable, or a request's
   * wait for the IdP timed out. (Each stale request is not an event: that is the per-request path.)
   */
  | { type: 'stale-served'; jwksUri: string; reason: 'fetch-failed' | 'wait-timeout'; ageMs: number | null }
  /**
   * A token was refused; `code` is the error's stable code. Emitted by the verifier, once per
   * refusal; `issuer` is the configured issuer the token was routed to, or '' when its `iss`
   * matched none (the token's own `iss` is never given: an attacker would choose it).
   */
  | { type: 'token-refused'; code: string }
  /** `via: 'fleet'`: the call was made on another process of the fleet and reached this one. */
  | { type: 'key-revoked'; jwksUri: string; kid: string; via?: 'fleet' }
  | { type: 'key-restored'; jwksUri: string; kid: string; via?: 'fleet' }
  /** The warm-up found no set: the app starts (unless `failOnWarmupError`) and keeps trying. */
  | { type: 'warm-up-failed'; jwksUri: string; reason: string; stillFetching: boolean }
  /** A set loaded from the store at startup serves until the IdP answers. */
  | { type: 'store-restored'; jwksUri: string; keyCount: number; ageMs: number }
  /** A loaded or pushed set was not used. */
  | { type: 'store-not-used'; jwksUri: string; reason: 'older-than-max-stale' | 'unusable-key-set' | 'unusable-pushed-set' | 'implausible-times' }
  /** Fleet mode: at startup this process took the fleet's fresh shared set instead of fetching it. */
  | { type: 'fleet-joined'; jwksUri: string; keyCount: number; ageMs: number }
  /** Saving to the store failed (never fatal). */
  | { type: 'store-save-failed'; jwksUri: string; code: string }
  /**
   * Re-reading the issuer's discovery document failed; the `jwks_uri` it gave before is still used.
   * (A discovery that fails with no `jwks_uri` known yet is a failed fetch: `fetch-finished`.)
   */
  | { type: 'discovery-failed'; jwksUri: string; message: string }
  /** A re-read of the discovery document named another `jwks_uri` (both as logged): the keys moved. */
  | { type: 'jwks-uri-changed'; jwksUri: string; previous: string }
  /** An issuer was added at runtime (`addIssuer`) or removed (`removeIssuer`). */
  | { type: 'issuer-added'; jwksUri: string }
  | { type: 'issuer-removed'; jwksUri: string }
  /**
   * The rotation webhook took a notice and acted on it: `action` on `issuer` ('' for a refresh of
   * every issuer). A revoke or restore is followed by its `key-revoked`/`key-restored` event, which
   * carries the kid; a refresh by its `fetch-finished` (trigger `manual`).
   */
  | { type: 'webhook-received'; source: 'signed-notice' | 'auth0-log-stream'; action: 'refresh' | 'revoke' | 'restore' }
  /**
   * The rotation webhook refused a request (`issuer` ''): 401 not authenticated, 413 over the size
   * limit, 429 its sender was refused too often lately, 400 an authenticated body it could not act on.
   */
  | { type: 'webhook-refused'; status: 400 | 401 | 413 | 429; reason: WebhookRefusalReason }
  /** `ClientCredentialsModule`'s outbound tokens (`client-token-*`); `issuer` is its token endpoint's origin. */
  | ClientCredentialsEventBody;

/**
 * Why the webhook refused: the signature check's reasons (`missing`, `malformed`, `outside-window`,
 * `mismatch`, `replayed`), `authorization` (an Auth0 delivery's header did not match),
 * `no-credentials` (neither header it accepts), `oversized`, `rate-limited`, `unusable-body`
 * (authenticated, but not a notice it can act on), `unknown-target` (an issuer or kid it cannot act on).
 */
export type WebhookRefusalReason =
  | 'missing'
  | 'malformed'
  | 'outside-window'
  | 'mismatch'
  | 'replayed'
  | 'oversized'
  | 'authorization'
  | 'no-credentials'
  | 'rate-limited'
  | 'unusable-body'
  | 'unknown-target';

/** What a key set did about an unknown kid (`unknown-kid` events; the metrics' `action` label). */
export type UnknownKidAction = 'refetch' | 'cooldown' | 'backoff' | 'busy' | 'unavailable';

/** Receives every event, synchronously; it must not throw (a throw is swallowed) and must not block. */
export type JwksAuthEventListener = (event: JwksAuthEvent) => void;

/** Options of `loggingListener`. */
export interface LoggingListenerOptions {
  /** The clock of the flood limit (the module passes its own, so a `FakeClock` drives it in tests). */
  clock?: Pick<Clock, 'now' | 'setTimeout' | 'clearTimeout'>;
  /** One line per kind and issuer per this many ms during a flood; default `LOG_FLOOD_INTERVAL_MS`. */
  floodIntervalMs?: number;
}

/** At most this many kid fingerprints in one key-set-changed line: a set of hundreds stays one short line. */
const MAX_KIDS_IN_LINE = 3;

// The flood limit's kinds, as constant strings: a held-back line builds no string.
const REFETCH_REFUSED = { cooldown: 'refetch-refused (cooldown)', backoff: 'refetch-refused (backoff)', busy: 'refetch-refused (busy)' } as const;
const STORE_NOT_USED = {
  'older-than-max-stale': 'store-not-used (older-than-max-stale)',
  'unusable-key-set': 'store-not-used (unusable-key-set)',
  'unusable-pushed-set': 'store-not-used (unusable-pushed-set)',
  'implausible-times': 'store-not-used (implausible-times)',
} as const;

function kidList(kids: readonly string[]): string {
  const shown = kids.slice(0, MAX_KIDS_IN_LINE).map(kidFingerprint).join(', ');
  return kids.length > MAX_KIDS_IN_LINE ? `${shown} and ${kids.length - MAX_KIDS_IN_LINE} more` : shown;
}

/**
 * The default listener: the module's log lines. Levels: `error` when no set could be had at
 * startup, `warn` when something needs a look (a failed fetch, a refused refetch, a revocation),
 * `log` for normal operation (a rotation, an unknown kid that a refetch will settle). Lines that
 * repeat in a flood (unknown kids, refused refetches, failed fetches, waits that timed out,
 * unusable sets) are written at most once per kind and issuer per `LOG_FLOOD_INTERVAL_MS`, then
 * summarised ("… N more"). Kids appear only as fingerprints (`kidFingerprint`); never a token.
 */
export function loggingListener(log: KeySetLog, options: LoggingListenerOptions = {}): JwksAuthEventListener {
  const flood = new LogFloodLimiter(log, options.clock ?? systemClock, options.floodIntervalMs ?? LOG_FLOOD_INTERVAL_MS);
  // Failed fetches in a row, per key set: the fetch that ends a run of failures says so, so an
  // outage's end is in the log as well as its start. One entry per failing key set, dropped when
  // it succeeds again or its issuer is removed.
  const failing = new Map<string, number>();
  return (e) => {
    switch (e.type) {
      case 'fetch-finished': {
        const key = `${e.issuer}\n${e.jwksUri}`;
        if (e.outcome === 'failed') {
          failing.set(key, (failing.get(key) ?? 0) + 1);
          if (flood.admit('warn', 'fetch-failed', e.issuer)) log.warn(`JWKS fetch from ${e.jwksUri} failed: ${e.error?.message ?? 'error'}; next attempt in ${e.nextAttemptInMs ?? 0} ms`);
          return;
        }
        const failures = failing.get(key);
        if (failures !== undefined) {
          failing.delete(key);
          log.log?.(`JWKS fetch from ${e.jwksUri} succeeded again after ${failures} failed attempt(s)`);
        }
        return;
      }
      case 'unknown-kid':
        if (flood.admit('log', 'unknown-kid', e.issuer)) log.log?.(`JWKS: a token named a key that the set from ${e.jwksUri} does not hold (kid mismatch): refetching unless refused`);
        return;
      case 'refetch-refused':
        if (flood.admit('warn', REFETCH_REFUSED[e.reason], e.issuer)) log.warn(`JWKS: a refetch of ${e.jwksUri} for an unknown kid was refused (${e.reason}): such tokens are refused meanwhile`);
        return;
      case 'stale-served':
        // A failed fetch already has its line; a request that gave up waiting has not.
        if (e.reason === 'wait-timeout' && flood.admit('warn', 'stale-served (wait-timeout)', e.issuer)) {
          const age = e.ageMs === null ? '' : ` (${Math.round(e.ageMs / 1000)} s old)`;
          log.warn(`JWKS: waiting for ${e.jwksUri} timed out: serving the held set${age} as last-known-good`);
        }
        return;
      case 'key-set-changed':
        log.log?.(`JWKS: key set from ${e.jwksUri} now holds ${e.keyCount} key(s)${e.kidsAdded.length > 0 ? `; added ${kidList(e.kidsAdded)}` : ''}${e.kidsRemoved.length > 0 ? `; removed ${kidList(e.kidsRemoved)}` : ''} (${e.origin})`);
        return;
      case 'keys-skipped':
        if (flood.admit('warn', 'keys-skipped', e.issuer)) log.warn(`JWKS from ${e.jwksUri}: ${e.count} key(s) skipped (${e.reasons.join(', ')})`);
        return;
      case 'key-revoked':
        log.warn(`JWKS: key ${kidFingerprint(e.kid)} revoked by the operator${e.via === 'fleet' ? ' (on another process of the fleet)' : ''}: its tokens are refused until restoreKey()`);
        return;
      case 'key-restored':
        log.warn(`JWKS: key ${kidFingerprint(e.kid)} restored by the operator${e.via === 'fleet' ? ' (on another process of the fleet)' : ''}`);
        return;
      case 'warm-up-failed':
        log.error(`JWKS warm-up from ${e.jwksUri} failed: ${e.reason}; ${e.stillFetching ? 'still fetching' : 'retrying'} in the background`);
        return;
      case 'store-restored':
        log.warn(`JWKS snapshot: serving ${e.keyCount} key(s) fetched ${Math.round(e.ageMs / 1000)} s ago until ${e.jwksUri} answers`);
        return;
      case 'store-not-used':
        if (flood.admit('warn', STORE_NOT_USED[e.reason], e.issuer)) log.warn(storeNotUsedLine(e.reason));
        return;
      case 'fleet-joined':
        log.log?.(`JWKS fleet: took the shared key set (${e.keyCount} key(s), fetched ${Math.round(e.ageMs / 1000)} s ago) instead of fetching it`);
        return;
      case 'store-save-failed':
        if (flood.admit('warn', 'store-save-failed', e.issuer)) log.warn(`JWKS store: the key set could not be saved (${e.code})`);
        return;
      case 'issuer-added':
        log.log?.(`JWKS: issuer ${e.issuer} added`);
        return;
      case 'issuer-removed':
        failing.delete(`${e.issuer}\n${e.jwksUri}`);
        log.log?.(`JWKS: issuer ${e.issuer} removed: its tokens are refused from now on`);
        return;
      case 'jwks-uri-changed':
        log.warn(`JWKS discovery for ${e.issuer}: the keys moved from ${e.previous} to ${e.jwksUri}`);
        return;
      case 'discovery-failed':
        if (flood.admit('warn', 'discovery-failed', e.issuer)) log.warn(`JWKS discovery for ${e.issuer} failed: ${e.message}; still using ${e.jwksUri}`);
        return;
      default:
        // token-refused: the guard's refusal log writes those (per code, rate-limited); webhook-*:
        // the webhook writes its own lines; client-token-*: ClientCredentialsModule logs its own.
        return;
    }
  };
}

function storeNotUsedLine(reason: Extract<JwksAuthEventBody, { type: 'store-not-used' }>['reason']): string {
  if (reason === 'older-than-max-stale') return 'JWKS snapshot: not used (older than maxStaleMs)';
  if (reason === 'unusable-key-set') return 'JWKS snapshot: its key set is not usable';
  if (reason === 'implausible-times') return "JWKS fleet: the shared key-set state holds moments too far in the future (not any host's clock); not used, and replaced at the next write";
  return 'JWKS store: a pushed key set is not usable; keeping the held one';
}
