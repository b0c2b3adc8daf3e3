import { createHash } from 'node:crypto';
import * as nodeCrypto from 'node:crypto';
import type { JwtClaims } from './claims.validator.js';
import type { VerificationKey } from './jwk-set.parser.js';

interface Entry {
  readonly claims: JwtClaims;
  readonly key: VerificationKey;
  readonly expiresAt: number;
}

// crypto.hash (Node 20.12+) is a one-shot digest without a Hash object per call.
const oneShot = (nodeCrypto as { hash?: (alg: string, data: string, enc: 'base64') => string }).hash;
const digest = oneShot ? (token: string) => oneShot('sha256', token, 'base64') : (token: string) => createHash('sha256').update(token).digest('base64');

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/**
 * Recently verified tokens, keyed by a SHA-256 of the whole token (never by a part an attacker
 * could pair with other bytes), so a client repeating its token skips the signature check.
 * Bounded (least recently used goes first); an entry lives until the token's `exp`, never longer
 * than `ttlMs`, and is dropped as soon as the key that verified it is no longer current.
 * Cached claims are deep-frozen, since one object serves many requests.
 */
export class VerifiedTokenCache {
  private readonly entries = new Map<string, Entry>();
  hits = 0;
  misses = 0;

  constructor(
    private readonly maxEntries: number,
    private readonly ttlMs: number,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get(token: string, now: number, isCurrent: (key: VerificationKey) => boolean): Entry | undefined {
    const entry = this.entries.size === 0 ? undefined : this.lookup(digest(token), now, isCurrent);
    if (entry === undefined) this.misses++;
    else this.hits++;
    return entry;
  }

  private lookup(id: string, now: number, isCurrent: (key: VerificationKey) => boolean): Entry | undefined {
    const entry = this.entries.get(id);
    if (entry === undefined) return undefined;
    this.entries.delete(id);
    if (now >= entry.expiresAt || !isCurrent(entry.key)) return undefined;
    this.entries.set(id, entry); // most recently used goes last
    return entry;
  }

  /** @param validUntil when the claims stop being acceptable (ms): `exp`, or sooner with a max token age */
  set(token: string, claims: JwtClaims, key: VerificationKey, now: number, validUntil: number): void {
    const expiresAt = Math.min(validUntil, now + this.ttlMs);
    if (expiresAt <= now) return;
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(digest(token), { claims: deepFreeze(claims), key, expiresAt });
  }

  clear(): void {
    this.entries.clear();
  }
}
