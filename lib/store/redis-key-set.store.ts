import { createHash } from 'node:crypto';
import type { KeySetState } from '../cache/key-set.state.js';
import type { KeySetLog } from '../cache/key-set.source.js';
import { JwksStoreError } from '../errors/jwks.errors.js';
import { JWKS_DEFAULTS, REDIS_STORE_DEFAULTS } from '../jwks-auth.constants.js';
import { checkKeySetState, type KeySetStateRefusal } from './key-set-state.validator.js';
import type { FleetKeySetStore, KeySetId, KeySetLease } from './key-set.store.js';
import { RedisConnection, type RedisClientLike } from './redis.connection.js';

export { loadIoredis, type RedisClientLike } from './redis.connection.js';

/** Options of `RedisKeySetStore`. */
export interface RedisKeySetStoreOptions {
  /**
   * Where Redis is: a URL (`redis://…`, `rediss://…`), ioredis options (a Sentinel setup included),
   * or an ioredis client (`new Redis(…)`, `new Cluster(…)`). The store closes only a client it
   * created; one passed in stays the caller's.
   */
  redis: string | Record<string, unknown> | RedisClientLike;
  /** Prefix of every key and channel. Default `REDIS_STORE_DEFAULTS.keyPrefix` (`jwks-auth:`). */
  keyPrefix?: string;
  /** Where refusals and Redis trouble are logged (rate-limited). Default: Nest's `Logger('JwksAuth')`. */
  log?: KeySetLog;
  /** Most keys a stored set may list; match the module's `fetch.maxKeys`. Default `JWKS_DEFAULTS.maxKeys`. */
  maxKeys?: number;
}

/** Why a value in Redis was not used, beyond the state's own checks. Safe to log: never the value. */
export type RedisStoredValueRefusal =
  | KeySetStateRefusal
  /** Larger than `REDIS_STORE_DEFAULTS.maxStateBytes`; refused before it is read. */
  | 'too-large'
  /** Not JSON. */
  | 'not-json'
  /** Not a value this store wrote: another app's value, or another Redis type (a hash, a list) at the key. */
  | 'foreign'
  /** A value this store wrote, but for another issuer or JWKS URI. */
  | 'other-key-set';

/** Marks the values this store writes, so another app's value at the same key is told apart. */
const FORMAT = 'nestjs-jwks-auth/key-set-state';
const FORMAT_VERSION = 1;

/**
 * Reads the state only if it is a string within the cap: STRLEN first, so a huge value is refused
 * without being transferred. Returns what the value is, as `update` compares it (`''` no key,
 * `wrong-type` another Redis type, `too-large`, else the SHA-1 of the text), then the text, unless
 * its SHA-1 is ARGV[2] (what the reader holds already): a change notice for an unchanged value
 * then costs no transfer and no parsing.
 */
const READ_SCRIPT = `local t = redis.call('TYPE', KEYS[1])['ok']
if t == 'none' then return {''} end
if t ~= 'string' then return {'wrong-type'} end
if redis.call('STRLEN', KEYS[1]) > tonumber(ARGV[1]) then return {'too-large'} end
local v = redis.call('GET', KEYS[1])
local d = redis.sha1hex(v)
if d == ARGV[2] then return {d} end
return {d, v}`;
/**
 * `update`'s write: sets the state and announces it only if the key still holds what the caller
 * read (described as READ_SCRIPT does), so a write another process made in between is never
 * overwritten, and a write delayed in a frozen Redis cannot land over a newer one. A foreign or
 * oversized value the caller read is replaced.
 */
const COMPARE_AND_SAVE_SCRIPT = `local t = redis.call('TYPE', KEYS[1])['ok']
local seen
if t == 'none' then seen = ''
elseif t ~= 'string' then seen = 'wrong-type'
elseif redis.call('STRLEN', KEYS[1]) > tonumber(ARGV[5]) then seen = 'too-large'
else seen = redis.sha1hex(redis.call('GET', KEYS[1])) end
if seen ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1`;
/** Writes the state and announces it in one round trip, so no reader hears of a write that is not there yet. */
const SAVE_SCRIPT = `redis.call('SET', KEYS[1], ARGV[1])
return redis.call('PUBLISH', ARGV[2], ARGV[3])`;


/** The Redis key of a key set's state, of its fetch lease, and its change channel. */
export interface RedisKeySetKeys {
  state: string;
  lease: string;
  channel: string;
}

interface Watcher {
  id: KeySetId;
  keys: RedisKeySetKeys;
  onChange: (state: KeySetState) => void;
  /** SHA-1 of the stored text this process last holds (delivered or written itself): an unchanged value is neither read nor pushed again. */
  lastSeen: string;
  /** A read for a notice is running; `again`: another notice came meanwhile, read once more after it. */
  reading: boolean;
  again: boolean;
}

/**
 * A key-set store shared by a fleet through Redis. One key per key set holds the JSON state (the
 * source of truth); a save also publishes a change notice on that key set's channel, and each
 * watching process reads the key back and pushes the validated state to its source. A value read
 * from Redis is refused like a hostile JWKS response: size-capped before it is read, bound to its
 * issuer and JWKS URI, every member checked; a refusal is logged with its reason and the value is
 * never used. Redis trouble never fails authentication: every call is bounded by
 * `REDIS_STORE_DEFAULTS.commandTimeoutMs`; `load` then resolves null, `save`/`delete`/`lease`
 * reject with `JwksStoreError`, and the process keeps its own memory.
 *
 * The notice carries no state, only who saved: the key is read back, so a late or lost message
 * never applies an old state, a value goes through one validation path, and a publisher without
 * write access to the key cannot push a set.
 *
 * `fleet: { redis }` builds one; `fleet: { store }` takes any other store with the same port.
 */
export class RedisKeySetStore implements FleetKeySetStore {
  private readonly maxKeys: number;
  private readonly watchers = new Map<string, Set<Watcher>>();
  private closed = false;
  private subscribing: Promise<void> = Promise.resolve();
  private readonly conn: RedisConnection;

  constructor(options: RedisKeySetStoreOptions) {
    this.maxKeys = options.maxKeys ?? JWKS_DEFAULTS.maxKeys;
    this.conn = new RedisConnection({
      redis: options.redis,
      keyPrefix: options.keyPrefix,
      name: 'RedisKeySetStore',
      logLabel: 'JWKS Redis store',
      withoutRedis: 'this process verifies from its own memory, without the fleet (fleet: degraded), until Redis answers: check fleet.redis if this lasts',
      afterFailure: 'the key set carries on from memory',
      log: options.log,
      onNotice: (channel) => this.onNotice(channel),
      channels: () => [...this.watchers.keys()],
      // After a reconnect, messages may have been missed: the keys are the truth, so each is read again.
      onResubscribed: () => {
        for (const set of this.watchers.values()) for (const w of set) void this.deliver(w);
      },
    });
  }

  /**
   * The Redis keys and channel of a key set: the issuer's host, readable for an operator, then a
   * hash of issuer and JWKS URI (issuers are text of any length and any characters; the hash keeps
   * keys short, safe, and distinct for two tenants on one host).
   */
  keysOf(id: KeySetId): RedisKeySetKeys {
    const digest = createHash('sha256').update(`${id.issuer}\n${id.jwksUri ?? ''}`).digest('hex').slice(0, 32);
    const base = `${this.conn.prefix}${readableHost(id.issuer)}:${digest}`;
    return { state: `${base}:state`, lease: `${base}:lease`, channel: `${base}:changed` };
  }

  async load(id: KeySetId): Promise<KeySetState | null> {
    try {
      return (await this.read(id)).state;
    } catch (err) {
      this.conn.trouble('load', err);
      return null;
    }
  }

  /** Overwrites the shared state (a plain store's save). Fleet mode writes through `update`, which loses no other process's change. */
  async save(id: KeySetId, state: KeySetState): Promise<void> {
    const keys = this.keysOf(id);
    const text = this.encode(id, state);
    try {
      await this.conn.run((c) => c.call('EVAL', SAVE_SCRIPT, 1, keys.state, text, keys.channel, this.conn.notice()));
    } catch (err) {
      this.conn.trouble('save', err);
      throw err;
    }
    this.holds(keys.channel, text);
  }

  /**
   * Read, change, compare-and-write, in a loop: the write lands only if the key still holds what
   * was read, else it is read again and `change` asked again (at most
   * `REDIS_STORE_DEFAULTS.maxUpdateAttempts` times). A value refused on reading (foreign, hostile,
   * oversized) reaches `change` as null and is replaced.
   */
  async update(id: KeySetId, change: (current: KeySetState | null) => KeySetState | null): Promise<KeySetState | null> {
    const keys = this.keysOf(id);
    try {
      for (let attempt = 0; attempt < REDIS_STORE_DEFAULTS.maxUpdateAttempts; attempt++) {
        const read = await this.read(id);
        const next = change(read.state);
        if (next === null) return read.state;
        const text = this.encode(id, next);
        if (text === read.text) return next;
        const written = await this.conn.run((c) => c.call('EVAL', COMPARE_AND_SAVE_SCRIPT, 1, keys.state, read.seen, text, keys.channel, this.conn.notice(), REDIS_STORE_DEFAULTS.maxStateBytes));
        if (Number(written) === 1) {
          this.holds(keys.channel, text);
          return next;
        }
      }
      throw new JwksStoreError('conflict', `RedisKeySetStore: the shared state changed under every one of ${REDIS_STORE_DEFAULTS.maxUpdateAttempts} writes`);
    } catch (err) {
      this.conn.trouble('update', err);
      throw err;
    }
  }

  /** `'degraded'` while the last Redis call failed or a connection is lost; `'joined'` otherwise. */
  fleetStatus(): 'joined' | 'degraded' {
    return this.conn.status();
  }

  private encode(id: KeySetId, state: KeySetState): string {
    const text = JSON.stringify({ format: FORMAT, version: FORMAT_VERSION, issuer: id.issuer, jwksUri: id.jwksUri, state });
    if (Buffer.byteLength(text) > REDIS_STORE_DEFAULTS.maxStateBytes) throw new JwksStoreError('too-large', 'RedisKeySetStore: the key-set state is larger than the store keeps');
    return text;
  }

  /** This process holds what it wrote: the value is not pushed back to it. */
  private holds(channel: string, text: string): void {
    const seen = createHash('sha1').update(text).digest('hex');
    for (const w of this.watchers.get(channel) ?? []) w.lastSeen = seen;
  }

  watch(id: KeySetId, onChange: (state: KeySetState) => void): () => void {
    const keys = this.keysOf(id);
    const watcher: Watcher = { id, keys, onChange, lastSeen: '', reading: false, again: false };
    let set = this.watchers.get(keys.channel);
    const first = set === undefined;
    if (set === undefined) {
      set = new Set();
      this.watchers.set(keys.channel, set);
    }
    set.add(watcher);
    if (first) {
      const subscribing = this.conn.runSubscriber((s) => s.subscribe(keys.channel)).then(
        () => undefined,
        (err: unknown) => this.conn.trouble('subscribe', err),
      );
      this.subscribing = Promise.all([this.subscribing, subscribing]).then(() => undefined);
    }
    return () => {
      const current = this.watchers.get(keys.channel);
      if (current === undefined || !current.delete(watcher) || current.size > 0) return;
      this.watchers.delete(keys.channel);
      if (!this.closed) void this.conn.runSubscriber((s) => s.unsubscribe(keys.channel)).catch((err: unknown) => this.conn.trouble('unsubscribe', err));
    };
  }

  /**
   * Resolves once every `watch` so far is subscribed (or has failed, logged). A save elsewhere
   * before then is not pushed: a caller that must not miss one reads the key (`load`) after this.
   */
  whenWatching(): Promise<void> {
    return this.subscribing;
  }

  async delete(id: KeySetId): Promise<void> {
    try {
      await this.conn.run((c) => c.call('DEL', this.keysOf(id).state));
    } catch (err) {
      this.conn.trouble('delete', err);
      throw err;
    }
  }

  /**
   * `SET lease token NX PX ttl` with a random token: resolves the lease, or null while another
   * process holds it. On Redis trouble it rejects (`JwksStoreError`), never resolves null: null
   * would make every process wait for a holder that does not exist. `release()` deletes the lease
   * only while it still holds this token, and never rejects: a lease not released lapses at its ttl.
   */
  async lease(id: KeySetId, ttlMs: number): Promise<KeySetLease | null> {
    return this.conn.lease(this.keysOf(id).lease, ttlMs);
  }

  /** Stops watching and closes the connections this store opened (a client passed in stays open). */
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

  /**
   * The stored state after every check (null when there is none or it is refused, logged), its
   * text, and what the key held as `update` compares it.
   */
  private async read(id: KeySetId, held = ''): Promise<{ seen: string; text: string | null; state: KeySetState | null; unchanged?: true }> {
    const reply = await this.conn.run((c) => c.call('EVAL', READ_SCRIPT, 1, this.keysOf(id).state, REDIS_STORE_DEFAULTS.maxStateBytes, held));
    const seen: unknown = Array.isArray(reply) ? reply[0] : undefined;
    if (typeof seen !== 'string') throw new JwksStoreError('unavailable', 'RedisKeySetStore: unexpected reply to a read');
    if (seen === '') return { seen, text: null, state: null };
    if (seen === 'wrong-type') return { seen, text: null, state: this.refuse('foreign') };
    if (seen === 'too-large') return { seen, text: null, state: this.refuse('too-large') };
    if ((reply as unknown[]).length === 1 && held !== '' && seen === held) return { seen, text: null, state: null, unchanged: true };
    const raw: unknown = (reply as unknown[])[1];
    const text = typeof raw === 'string' ? raw : Buffer.isBuffer(raw) ? raw.toString() : null;
    if (text === null) return { seen, text: null, state: this.refuse('foreign') };
    return { seen, text, state: this.decode(id, text) };
  }

  /** A stored text as a state, checked like a hostile JWKS response; null (logged) when refused. */
  private decode(id: KeySetId, text: string): KeySetState | null {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      return this.refuse('not-json');
    }
    if (typeof doc !== 'object' || doc === null || (doc as { format?: unknown }).format !== FORMAT || (doc as { version?: unknown }).version !== FORMAT_VERSION) return this.refuse('foreign');
    const d = doc as { issuer?: unknown; jwksUri?: unknown; state?: unknown };
    if (d.issuer !== id.issuer || d.jwksUri !== id.jwksUri) return this.refuse('other-key-set');
    const checked = checkKeySetState(d.state, { maxKeys: this.maxKeys, maxRevokedKids: JWKS_DEFAULTS.maxRevokedKids });
    if (!checked.ok) return this.refuse(checked.reason);
    return checked.state;
  }

  private refuse(reason: RedisStoredValueRefusal): null {
    this.conn.rateLimited(`refused:${reason}`, () => this.conn.log.warn(`JWKS Redis store: stored key set not used (${reason})`));
    return null;
  }

  /** A notice from another process on a watched channel: the key is read back and pushed if it changed. */
  private onNotice(channel: string): void {
    for (const w of this.watchers.get(channel) ?? []) void this.deliver(w);
  }

  /**
   * Reads the key of a watched set and pushes it when it differs from what this process holds. One
   * read at a time per watcher: notices arriving meanwhile ask for one more read after it, so a
   * flood of notices costs a read per round trip, not one per notice.
   */
  private async deliver(w: Watcher): Promise<void> {
    if (w.reading) {
      w.again = true;
      return;
    }
    w.reading = true;
    try {
      do {
        w.again = false;
        await this.deliverOnce(w);
      } while (w.again && !this.closed);
    } finally {
      w.reading = false;
    }
  }

  private async deliverOnce(w: Watcher): Promise<void> {
    let read: { seen: string; text: string | null; state: KeySetState | null; unchanged?: true };
    try {
      read = await this.read(w.id, w.lastSeen);
    } catch (err) {
      this.conn.trouble('watch', err);
      return;
    }
    const { seen, state } = read;
    if (read.unchanged || state === null || this.closed || !this.watchers.get(w.keys.channel)?.has(w)) return;
    w.lastSeen = seen;
    try {
      w.onChange(state);
    } catch {
      // The source's own handler logs; a throw must not stop other watchers.
    }
  }
}

/** The issuer's host as a key segment an operator can read: lower-case letters, digits, dots and dashes, at most 64. */
function readableHost(issuer: string): string {
  let host: string;
  try {
    host = new URL(issuer).hostname;
  } catch {
    return 'issuer';
  }
  const safe = host.toLowerCase().replace(/[^a-z0-9.-]/g, '_').slice(0, 64);
  return safe === '' ? 'issuer' : safe;
}

