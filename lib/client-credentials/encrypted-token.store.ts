import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { ClientTokenEntry, ClientTokenLease, ClientTokenStore } from './client-token.store.js';

/**
 * Prefix of an encrypted access token: the format's version, so a later one can be told apart.
 * v2 binds the token's times, type and scope too (v1 bound the key only); a v1 value reads as no token.
 */
const PREFIX = 'enc:v2:';

/**
 * The additional data a token is sealed with: its store key, and every member the service trusts
 * beside it (when it was received, when it expires, its type and scope). Otherwise someone who can
 * write to the store could put back an old ciphertext as if just received, or widen its claimed scope.
 */
function boundData(key: string, token: NonNullable<ClientTokenEntry['token']>): Buffer {
  return Buffer.from(JSON.stringify([key, token.obtainedAt, token.expiresAt, token.tokenType, token.scope ?? null]));
}

/** Where the wrapper reports a value it could not decrypt (never the value). */
export interface EncryptedStoreLog {
  warn(message: string): void;
}

/**
 * Reads a 256-bit key given as 32 bytes, 64 hex characters or base64/base64url of 32 bytes.
 * @throws Error (without the key) when it is none of these
 */
export function encryptionKeyBytes(key: string | Uint8Array): Buffer {
  if (typeof key !== 'string') {
    if (key.byteLength !== 32) throw new Error('encryptionKey must be 32 bytes (AES-256)');
    return Buffer.from(key);
  }
  if (/^[0-9a-fA-F]{64}$/.test(key)) return Buffer.from(key, 'hex');
  const bytes = Buffer.from(key, /[-_]/.test(key) ? 'base64url' : 'base64');
  if (bytes.byteLength !== 32 || !/^[A-Za-z0-9+/_-]{43}={0,1}$/.test(key)) {
    throw new Error('encryptionKey must be 32 bytes: 64 hex characters or 44 base64 characters (openssl rand -base64 32)');
  }
  return bytes;
}

/**
 * Wraps any `ClientTokenStore` so access tokens are kept encrypted (AES-256-GCM, a random 96-bit
 * IV per write, the store key and the token's times, type and scope as additional data, so a value
 * can be neither moved to another key nor replayed with other times). The gate and expiry stay
 * readable: they are not secret, and a fleet needs them. A value that does
 * not decrypt (tampered, or written with another key) counts as no token: the service asks for a
 * new one. Lease and watch pass through.
 */
export class EncryptedClientTokenStore implements ClientTokenStore {
  private readonly key: Buffer;
  readonly lease?: (key: string, ttlMs: number) => Promise<ClientTokenLease | null>;
  readonly watch?: (key: string, onChange: (entry: ClientTokenEntry) => void) => () => void;

  constructor(
    private readonly inner: ClientTokenStore,
    encryptionKey: string | Uint8Array,
    private readonly log?: EncryptedStoreLog,
  ) {
    this.key = encryptionKeyBytes(encryptionKey);
    if (inner.lease) this.lease = (key, ttlMs) => (inner.lease as NonNullable<ClientTokenStore['lease']>).call(inner, key, ttlMs);
    if (inner.watch) {
      this.watch = (key, onChange) => (inner.watch as NonNullable<ClientTokenStore['watch']>).call(inner, key, (entry) => onChange(this.open(key, entry)));
    }
  }

  async read(key: string): Promise<ClientTokenEntry | null> {
    const entry = await this.inner.read(key);
    return entry === null ? null : this.open(key, entry);
  }

  write(key: string, entry: ClientTokenEntry, ttlMs: number): Promise<void> {
    return this.inner.write(key, this.seal(key, entry), ttlMs);
  }

  close(): Promise<void> | void {
    return this.inner.close?.();
  }

  private seal(key: string, entry: ClientTokenEntry): ClientTokenEntry {
    if (entry.token === null) return entry;
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(boundData(key, entry.token));
    const ct = Buffer.concat([cipher.update(entry.token.accessToken, 'utf8'), cipher.final()]);
    const sealed = `${PREFIX}${iv.toString('base64url')}.${ct.toString('base64url')}.${cipher.getAuthTag().toString('base64url')}`;
    return { ...entry, token: { ...entry.token, accessToken: sealed } };
  }

  private open(key: string, entry: ClientTokenEntry): ClientTokenEntry {
    if (entry.token === null) return entry;
    const value = entry.token.accessToken;
    const parts = typeof value === 'string' && value.startsWith(PREFIX) ? value.slice(PREFIX.length).split('.') : [];
    try {
      if (parts.length !== 3) throw new Error('not sealed');
      const [iv, ct, tag] = parts.map((p) => Buffer.from(p, 'base64url'));
      if (iv.byteLength !== 12 || tag.byteLength !== 16) throw new Error('bad lengths');
      const decipher = createDecipheriv('aes-256-gcm', this.key, iv);
      decipher.setAAD(boundData(key, entry.token));
      decipher.setAuthTag(tag);
      const accessToken = Buffer.concat([decipher.update(ct), decipher.final()]).toString('utf8');
      return { ...entry, token: { ...entry.token, accessToken } };
    } catch {
      this.log?.warn('client-credentials store: a stored token did not decrypt (tampered, written with another encryptionKey, or by an older version); treated as absent');
      return { ...entry, token: null };
    }
  }
}
