import type { KeySetError, KeySetState } from '../cache/key-set.state.js';
import { SAFE_KID } from '../verify/kid.js';

/**
 * Why a stored key-set state was refused. Safe to log: each names what was wrong, never the
 * value (no kid, no key material, no ETag).
 */
export type KeySetStateRefusal =
  /** Not an object with the state's members. */
  | 'not-an-object'
  /** `jwks` is not the JSON text of a JWK set (`{"keys": [...]}`) within the key cap, or it and `fetchedAt` disagree. */
  | 'bad-jwks'
  /** A time that is not a finite, non-negative number of milliseconds (NaN, negative, 1e999). */
  | 'bad-time'
  /** `failures` is not a non-negative integer, or `mustRevalidate` not a boolean. */
  | 'bad-counter'
  /** An ETag that could not be sent back as a header (not printable ASCII, too long). */
  | 'bad-etag'
  /** `revokedKids` is not a list of safe kid strings within the cap. */
  | 'bad-revoked-kids'
  /** `lastError` is not the plain error record the source writes. */
  | 'bad-last-error';

export type KeySetStateCheck = { ok: true; state: KeySetState } | { ok: false; reason: KeySetStateRefusal };

/** Bounds a stored state must stay within (the module's own caps). */
export interface KeySetStateLimits {
  /** Most keys a stored set may list (`fetch.maxKeys`). */
  maxKeys: number;
  /** Most revoked kids (`maxRevokedKids`). */
  maxRevokedKids: number;
}

/** Longest ETag taken back: real ones are a quoted hash, well under 100 characters. */
const MAX_ETAG_CHARS = 256;
/** Printable ASCII only: the ETag is sent back in `If-None-Match`, where CR/LF would split the request. */
const SAFE_ETAG = /^[\x20-\x7e]*$/;
/** Largest revision taken back: a fleet counting one outcome a second reaches it in 35,000 years. */
const MAX_REVISION = 2 ** 40;
/** Longest text of a stored `lastError` member (code, kind, message): the source's own are short. */
const MAX_ERROR_TEXT_CHARS = 1_000;

/** A point in time or a duration in ms: finite (JSON has no Infinity, but 1e999 parses as one) and not negative. */
export function isStoredTime(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0;
}

export function isStoredEtag(v: unknown): v is string | null {
  return v === null || (typeof v === 'string' && v.length <= MAX_ETAG_CHARS && SAFE_ETAG.test(v));
}

/**
 * The JSON text of a JWK set: an object whose `keys` is an array of at most `maxKeys` objects.
 * Only the shape; each key is still parsed (and refused one by one) by the key-set parser.
 */
export function isJwkSetText(v: unknown, maxKeys: number): v is string {
  if (typeof v !== 'string') return false;
  let doc: unknown;
  try {
    doc = JSON.parse(v);
  } catch {
    return false;
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return false;
  const keys = (doc as { keys?: unknown }).keys;
  return Array.isArray(keys) && keys.length <= maxKeys && keys.every((k) => typeof k === 'object' && k !== null && !Array.isArray(k));
}

function nullableTime(v: unknown): v is number | null {
  return v === null || isStoredTime(v);
}

function asError(v: unknown): KeySetError | null | undefined {
  if (v === null) return null;
  if (typeof v !== 'object' || Array.isArray(v)) return undefined;
  const e = v as Record<string, unknown>;
  const text = (t: unknown): t is string => typeof t === 'string' && t.length <= MAX_ERROR_TEXT_CHARS;
  if (!text(e.code) || !text(e.kind) || !text(e.message) || !isStoredTime(e.at)) return undefined;
  if (e.status !== undefined && !(Number.isInteger(e.status) && (e.status as number) >= 100 && (e.status as number) <= 599)) return undefined;
  return { code: e.code, kind: e.kind, message: e.message, at: e.at, ...(e.status === undefined ? {} : { status: e.status as number }) };
}

/**
 * A `KeySetState` read from outside this process (a shared store), checked like a hostile JWKS
 * response: every member of the expected type and within bounds, or the whole state is refused.
 * Returns a copy holding only the known members, so nothing else in the stored value travels on.
 */
export function checkKeySetState(doc: unknown, limits: KeySetStateLimits): KeySetStateCheck {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return refused('not-an-object');
  const d = doc as Record<string, unknown>;
  if (d.jwks !== null && !isJwkSetText(d.jwks, limits.maxKeys)) return refused('bad-jwks');
  if (!nullableTime(d.fetchedAt) || !isStoredTime(d.freshUntil) || !isStoredTime(d.notBefore) || !nullableTime(d.lastAttemptAt) || !nullableTime(d.lastUnknownKidFetchAt)) {
    return refused('bad-time');
  }
  // A set without its fetch time (or a time without a set) is not a state the source writes.
  if ((d.jwks === null) !== (d.fetchedAt === null)) return refused('bad-jwks');
  if (!Number.isSafeInteger(d.failures) || (d.failures as number) < 0 || typeof d.mustRevalidate !== 'boolean') return refused('bad-counter');
  // Revisions count outcomes; below 2^40 leaves room for every later one to stay a safe integer.
  const revision = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) < MAX_REVISION;
  if (!revision(d.revision) || !revision(d.setRevision) || (d.setRevision as number) > (d.revision as number)) return refused('bad-counter');
  if (!revision(d.invalidations) || !revision(d.setInvalidations) || (d.setInvalidations as number) > (d.invalidations as number)) return refused('bad-counter');
  if (!isStoredEtag(d.etag)) return refused('bad-etag');
  const kids = d.revokedKids;
  if (!Array.isArray(kids) || kids.length > limits.maxRevokedKids || !kids.every((k) => typeof k === 'string' && SAFE_KID.test(k))) return refused('bad-revoked-kids');
  const lastError = asError(d.lastError);
  if (lastError === undefined) return refused('bad-last-error');
  return {
    ok: true,
    state: {
      jwks: d.jwks as string | null,
      fetchedAt: d.fetchedAt as number | null,
      etag: d.etag as string | null,
      freshUntil: d.freshUntil as number,
      mustRevalidate: d.mustRevalidate,
      revision: d.revision as number,
      setRevision: d.setRevision as number,
      invalidations: d.invalidations as number,
      setInvalidations: d.setInvalidations as number,
      lastAttemptAt: d.lastAttemptAt as number | null,
      lastUnknownKidFetchAt: d.lastUnknownKidFetchAt as number | null,
      failures: d.failures as number,
      notBefore: d.notBefore as number,
      lastError,
      revokedKids: [...(kids as string[])],
    },
  };
}

function refused(reason: KeySetStateRefusal): KeySetStateCheck {
  return { ok: false, reason };
}
