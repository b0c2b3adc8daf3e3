import { createHash } from 'node:crypto';
import * as nodeCrypto from 'node:crypto';
import type { JwtClaims } from './claims.validator.js';
import type { VerificationKey } from './jwk-set.parser.js';

/** The key set a cached token's key belongs to. */
export interface KeyOwner {
  isKeyCurrent(key: VerificationKey): boolean;
}

interface Entry {
  readonly claims: JwtClaims;
  readonly key: VerificationKey;
  /** The key set the key came from: asked on every hit whether the key still verifies. */
  readonly keys: KeyOwner;
  readonly expiresAt: number;
  /** Estimated heap bytes of the entry (claims, key string, map slot). */
  readonly bytes: number;
}

/** Limits of the cache, as resolved from `verifiedTokenCache` options. */
export interface VerifiedTokenCacheLimits {
  readonly maxEntries: number;
  readonly ttlMs: number;
  readonly maxBytes: number;
  readonly maxEntryBytes: number;
}

// crypto.hash (Node 20.12+) is a one-shot digest without a Hash object per call.
const oneShot = (nodeCrypto as { hash?: (alg: string, data: string, enc: 'base64') => string }).hash;
const digest = oneShot ? (token: string) => oneShot('sha256', token, 'base64') : (token: string) => createHash('sha256').update(token).digest('base64');

/**
 * Heap cost model of parsed, frozen claims, calibrated on V8 (Node 20, 64-bit) and rounded up, so
 * the estimate is at least the real cost for every shape we measured (test/unit/
 * verified-token-cache.budget.spec.ts): empty objects, empty arrays, numbers, short unique strings,
 * objects each with keys of their own. Typical access-token claims cost ~0.6 KiB and are
 * estimated at ~3 KiB, the price of never under-counting a token built to be heavy.
 */
const COST = {
  /** Map slot, SHA-256 key string and the entry object. */
  entry: 256,
  /** Per character of the JSON text: string contents, at two bytes for non-Latin-1 strings. */
  textChar: 2,
  /** A JS object or array itself. */
  container: 64,
  /** An object with own keys may have a hidden class (and a frozen copy of it) of its own. */
  shape: 256,
  /** Per own key: a slot, its descriptor, or a dictionary entry with its key string. */
  key: 160,
  /** Per array element: a slot, or a boxed number. */
  element: 32,
} as const;

/**
 * Deep-freezes parsed claims (one object serves many requests) and returns the estimate of
 * their heap cost beyond their text: one iterative pass, so no payload can exhaust the stack.
 */
function freezeAndMeasure(claims: object): number {
  let bytes = 0;
  const pending: object[] = [claims];
  while (pending.length > 0) {
    const value = pending.pop() as Record<string, unknown>;
    Object.freeze(value);
    if (Array.isArray(value)) {
      bytes += COST.container + COST.element * value.length;
      for (let i = 0; i < value.length; i++) {
        const v: unknown = value[i];
        if (typeof v === 'object' && v !== null) pending.push(v);
      }
      continue;
    }
    let keys = 0;
    for (const k in value) {
      keys++;
      const v = value[k];
      if (typeof v === 'object' && v !== null) pending.push(v);
    }
    bytes += COST.container + (keys > 0 ? COST.shape + COST.key * keys : 0);
  }
  return bytes;
}

/**
 * Recently verified tokens, keyed by a SHA-256 of the whole token (never by a part an attacker
 * could pair with other bytes), so a client repeating its token skips the signature check.
 * Bounded in entries and in estimated heap bytes (least recently used goes first); claims
 * estimated above `maxEntryBytes` are never cached. An entry lives until the token's `exp`, never
 * longer than `ttlMs`, and is dropped as soon as the key that verified it is no longer current.
 * Claims are deep-frozen, cached or not, since one object serves many requests.
 */
export class VerifiedTokenCache {
  private readonly entries = new Map<string, Entry>();
  private totalBytes = 0;
  hits = 0;
  misses = 0;

  constructor(private readonly limits: VerifiedTokenCacheLimits) {}

  get size(): number {
    return this.entries.size;
  }

  /** Estimated heap bytes of all entries; at most `maxBytes`. */
  get bytes(): number {
    return this.totalBytes;
  }

  get(token: string, now: number): Entry | undefined {
    const entry = this.entries.size === 0 ? undefined : this.lookup(digest(token), now);
    if (entry === undefined) this.misses++;
    else this.hits++;
    return entry;
  }

  private lookup(id: string, now: number): Entry | undefined {
    const entry = this.entries.get(id);
    if (entry === undefined) return undefined;
    this.entries.delete(id);
    if (now >= entry.expiresAt || !entry.keys.isKeyCurrent(entry.key)) {
      this.totalBytes -= entry.bytes;
      return undefined;
    }
    this.entries.set(id, entry); // most recently used goes last
    return entry;
  }

  /**
   * @param payloadChars length of the claims' base64url segment (bounds their JSON text)
   * @param validUntil when the claims stop being acceptable (ms): `exp`, or sooner with a max token age
   */
  set(token: string, claims: JwtClaims, payloadChars: number, key: VerificationKey, keys: KeyOwner, now: number, validUntil: number): void {
    const bytes = COST.entry + COST.textChar * Math.ceil((payloadChars * 3) / 4) + freezeAndMeasure(claims);
    const expiresAt = Math.min(validUntil, now + this.limits.ttlMs);
    if (expiresAt <= now || bytes > this.limits.maxEntryBytes || bytes > this.limits.maxBytes) return;
    const id = digest(token);
    const previous = this.entries.get(id);
    if (previous !== undefined) {
      this.entries.delete(id);
      this.totalBytes -= previous.bytes;
    }
    while (this.entries.size > 0 && (this.entries.size >= this.limits.maxEntries || this.totalBytes + bytes > this.limits.maxBytes)) {
      const [oldestId, oldest] = this.entries.entries().next().value as [string, Entry];
      this.entries.delete(oldestId);
      this.totalBytes -= oldest.bytes;
    }
    this.entries.set(id, { claims, key, keys, expiresAt, bytes });
    this.totalBytes += bytes;
  }

  clear(): void {
    this.entries.clear();
    this.totalBytes = 0;
  }
}
