import type { KeySetLog } from '../cache/key-set.source.js';
import { JwksArgumentError, JwksStoreError } from '../errors/jwks.errors.js';
import { RedisConnection, type RedisTarget } from '../store/redis.connection.js';
import { checkClientTokenEntry, type ClientTokenEntryRefusal } from './client-token-entry.validator.js';
import type { ClientTokenEntry, ClientTokenLease, ClientTokenStore } from './client-token.store.js';

/** Options of `RedisClientTokenStore`. */
export interface RedisClientTokenStoreOptions {
  /** A URL (`redis://…`, `rediss://…`), ioredis options, or an ioredis client (which stays the caller's to close). */
  redis: RedisTarget;
  /** Prefix of every key and channel. Default `REDIS_STORE_DEFAULTS.keyPrefix` (`jwks-auth:`), the key sets' own. */
  keyPrefix?: string;
  /** Where refusals and Redis trouble are logged (rate-limited). Default: Nest's `Logger('JwksAuth')`. */
  log?: KeySetLog;
  /** The clock a stored entry's times are checked against. Default `Date.now`. */
  now?: () => number;
}

/** Marks the values this store writes, so another app's value at the same key is told apart. */
const FORMAT = 'nestjs-jwks-auth/client-token';
const FORMAT_VERSION = 1;
/** A stored entry: a token of at most `maxAccessTokenChars` (encrypted: a third more) and a gate. */
const MAX_ENTRY_BYTES = 64 * 1024;
/** Keys the service derives: `cc:` and a hash. Anything else is a caller's mistake, refused before Redis sees it. */
const KEY = /^[A-Za-z0-9:_-]{1,200}$/;

/** Reads the value only if it is a string within the cap (STRLEN first: a huge value is never transferred). */
const READ_SCRIPT = `local t = redis.call('TYPE', KEYS[1])['ok']
if t == 'none' then return {''} end
if t ~= 'string' then return {'wrong-type'} end
if redis.call('STRLEN', KEYS[1]) > tonumber(ARGV[1]) then return {'too-large'} end
return {'ok', redis.call('GET', KEYS[1])}`;
/** Writes the entry with its expiry and announces it in one round trip: no reader hears of a write that is not there yet. */
const WRITE_SCRIPT = `redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return redis.call('PUBLISH', ARGV[3], ARGV[4])`;

type Refusal = ClientTokenEntryRefusal | 'too-large' | 'not-json' | 'foreign' | 'other-key';

/**
 * Client-credentials tokens shared by a fleet through Redis (`ClientCredentialsModule`'s
 * `fleet: { redis }`): one entry per token endpoint, client, audience and scope, kept only as long
 * as the token lives (`SET … PX`), its throttle gate beside it, so one process's 429 holds back
 * every process. `lease` is the request lease (`SET NX PX`, released only by its holder), `watch`
 * a pub/sub notice after each write (the key is read back: the notice carries no value). Values
 * read are checked as hostile input (size before transfer, format, every member, plausible times);
 * wrap the store in `EncryptedClientTokenStore` (the `encryptionKey` option) so Redis holds no
 * readable token. Connections, timeouts and failure handling are the key-set store's
 * (`RedisConnection`).
 */
export class RedisClientTokenStore implements ClientTokenStore {
  private readonly now: () => number;
  private readonly watchers = new Map<string, { key: string; handlers: Set<(entry: ClientTokenEntry) => void> }>();
  private readonly conn: RedisConnection;
  private closed = false;

  constructor(options: RedisClientTokenStoreOptions) {
    this.now = options.now ?? Date.now;
    this.conn = new RedisConnection({
      redis: options.redis,
      keyPrefix: options.keyPrefix,
      name: 'RedisClientTokenStore',
      logLabel: 'Client-credentials Redis store',
      withoutRedis: "this process keeps and requests its own tokens, without the fleet, until Redis answers: check the client-credentials module's fleet.redis if this lasts",
      afterFailure: 'the token cache carries on from memory',
      log: options.log,
      onNotice: (channel) => this.onNotice(channel),
      channels: () => [...this.watchers.keys()],
      onResubscribed: () => {
        for (const w of this.watchers.values()) void this.deliver(w.key);
      },
    });
  }

  private keys(key: string): { entry: string; lease: string; channel: string } {
    if (typeof key !== 'string' || !KEY.test(key)) throw new JwksArgumentError('RedisClientTokenStore: a key must be 1 to 200 letters, digits, colons, dashes or underscores');
    const base = `${this.conn.prefix}${key}`;
    return { entry: `${base}:token`, lease: `${base}:lease`, channel: `${base}:changed` };
  }

  async read(key: string): Promise<ClientTokenEntry | null> {
    const keys = this.keys(key);
    let reply: unknown;
    try {
      reply = await this.conn.run((c) => c.call('EVAL', READ_SCRIPT, 1, keys.entry, MAX_ENTRY_BYTES));
    } catch (err) {
      this.conn.trouble('read', err);
      throw err;
    }
    const [what, raw] = Array.isArray(reply) ? (reply as unknown[]) : [];
    if (what === '') return null;
    if (what === 'wrong-type') return this.refuse('foreign');
    if (what === 'too-large') return this.refuse('too-large');
    const text = typeof raw === 'string' ? raw : Buffer.isBuffer(raw) ? raw.toString() : null;
    if (what !== 'ok' || text === null) throw new JwksStoreError('unavailable', 'RedisClientTokenStore: unexpected reply to a read');
    return this.decode(key, text);
  }

  async write(key: string, entry: ClientTokenEntry, ttlMs: number): Promise<void> {
    const keys = this.keys(key);
    const ttl = Math.max(1, Math.min(Math.ceil(ttlMs), 2 ** 31 - 1));
    if (!Number.isFinite(ttl)) throw new JwksArgumentError('RedisClientTokenStore.write: ttlMs must be a finite number');
    const text = JSON.stringify({ format: FORMAT, version: FORMAT_VERSION, key, entry });
    if (Buffer.byteLength(text) > MAX_ENTRY_BYTES) throw new JwksStoreError('too-large', 'RedisClientTokenStore: the entry is larger than the store keeps');
    try {
      await this.conn.run((c) => c.call('EVAL', WRITE_SCRIPT, 1, keys.entry, text, ttl, keys.channel, this.conn.notice()));
    } catch (err) {
      this.conn.trouble('write', err);
      throw err;
    }
  }

  /**
   * `SET lease token NX PX ttl` with a random token: the lease, or null while another process holds
   * it. Rejects (`JwksStoreError`) on Redis trouble, never null: the caller then asks on its own.
   */
  async lease(key: string, ttlMs: number): Promise<ClientTokenLease | null> {
    return this.conn.lease(this.keys(key).lease, ttlMs);
  }

  watch(key: string, onChange: (entry: ClientTokenEntry) => void): () => void {
    const { channel } = this.keys(key);
    let w = this.watchers.get(channel);
    if (w === undefined) {
      w = { key, handlers: new Set() };
      this.watchers.set(channel, w);
      void this.conn.runSubscriber((s) => s.subscribe(channel)).catch((err: unknown) => this.conn.trouble('subscribe', err));
    }
    w.handlers.add(onChange);
    const watcher = w;
    return () => {
      if (!watcher.handlers.delete(onChange) || watcher.handlers.size > 0 || this.watchers.get(channel) !== watcher) return;
      this.watchers.delete(channel);
      if (!this.closed) void this.conn.runSubscriber((s) => s.unsubscribe(channel)).catch((err: unknown) => this.conn.trouble('unsubscribe', err));
    };
  }

  /** `'degraded'` while Redis cannot be reached, `'joined'` otherwise. */
  fleetStatus(): 'joined' | 'degraded' {
    return this.conn.status();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.watchers.clear();
    await this.conn.close();
  }

  /** Nest calls this on a store provided as a provider: its connections close with the app. */
  onApplicationShutdown(): Promise<void> {
    return this.close();
  }

  private decode(key: string, text: string): ClientTokenEntry | null {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      return this.refuse('not-json');
    }
    const d = doc as { format?: unknown; version?: unknown; key?: unknown; entry?: unknown } | null;
    if (typeof d !== 'object' || d === null || d.format !== FORMAT || d.version !== FORMAT_VERSION) return this.refuse('foreign');
    // Bound to its key: a value copied from another client's or audience's key is not that one's token.
    if (d.key !== key) return this.refuse('other-key');
    const checked = checkClientTokenEntry(d.entry, this.now());
    return checked.ok ? checked.entry : this.refuse(checked.reason);
  }

  private refuse(reason: Refusal): null {
    this.conn.rateLimited(`refused:${reason}`, () => this.conn.log.warn(`Client-credentials Redis store: a stored token entry was not used (${reason})`));
    return null;
  }

  /** A notice from another process: the key is read back and handed to the watchers. */
  private onNotice(channel: string): void {
    const w = this.watchers.get(channel);
    if (w !== undefined) void this.deliver(w.key);
  }

  private async deliver(key: string): Promise<void> {
    let entry: ClientTokenEntry | null;
    try {
      entry = await this.read(key);
    } catch {
      return;
    }
    const w = this.watchers.get(this.keys(key).channel);
    if (entry === null || w === undefined || this.closed) return;
    for (const handler of w.handlers) {
      try {
        handler(entry);
      } catch {
        // The service's own handler; a throw must not stop the other watchers.
      }
    }
  }
}
