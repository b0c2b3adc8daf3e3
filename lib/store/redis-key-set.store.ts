import { createHash, randomBytes } from 'node:crypto';
import { Logger } from '@nestjs/common';
import type { KeySetState } from '../cache/key-set.state.js';
import type { KeySetLog } from '../cache/key-set.source.js';
import { JwksArgumentError, JwksMissingDependencyError, JwksStoreError } from '../errors/jwks.errors.js';
import { JWKS_DEFAULTS, REDIS_STORE_DEFAULTS } from '../jwks-auth.constants.js';
import { checkKeySetState, type KeySetStateRefusal } from './key-set-state.validator.js';
import type { FleetKeySetStore, KeySetId, KeySetLease } from './key-set.store.js';

/**
 * The part of an ioredis client (`Redis`, `Cluster`, a Sentinel-backed `Redis`) this store uses,
 * written out so the shipped declarations compile in an app without ioredis (an optional peer).
 * Commands go through `call`, which every ioredis client has.
 */
export interface RedisClientLike {
  readonly status: string;
  call(command: string, ...args: (string | number)[]): Promise<unknown>;
  /** ioredis's `Redis.duplicate(override)`; a `Cluster`'s takes other arguments and is called without. */
  duplicate(override?: Record<string, unknown>): RedisClientLike;
  subscribe(...channels: string[]): Promise<unknown>;
  unsubscribe(...channels: string[]): Promise<unknown>;
  on(event: string, listener: (...args: any[]) => void): unknown;
  quit(): Promise<unknown>;
  disconnect(): void;
}

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
 * Takes the fetch lease (SET NX PX). A lease key without an expiry (left by a hand-made SET, or
 * planted) would make every process wait for ever: it is given the ttl, so it lapses like any.
 */
const LEASE_SCRIPT = `if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('PTTL', KEYS[1]) == -1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`;
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
/** Deletes the lease only while it still holds the holder's token: a lapsed and retaken lease stays its new holder's. */
const RELEASE_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/**
 * Client states in which a command would only queue until the timeout: the connection was lost
 * (ioredis is retrying) or closed. A call then fails at once; the first connect still queues.
 */
const LOST = new Set(['reconnecting', 'close', 'end']);

type IoredisModule = { default?: unknown; Redis?: unknown };
let ioredis: Promise<new (...args: unknown[]) => RedisClientLike> | undefined;

/** ioredis is an optional peer dependency: loaded on first use, with an install hint. */
export function loadIoredis(load: () => Promise<IoredisModule> = () => import('ioredis') as Promise<IoredisModule>): Promise<new (...args: unknown[]) => RedisClientLike> {
  ioredis ??= load().then(
    (m) => (m.Redis ?? m.default) as new (...args: unknown[]) => RedisClientLike,
    () => {
      ioredis = undefined;
      throw new JwksMissingDependencyError('ioredis', 'RedisKeySetStore');
    },
  );
  return ioredis;
}

function isClient(v: RedisKeySetStoreOptions['redis']): v is RedisClientLike {
  return typeof v === 'object' && v !== null && typeof (v as Partial<RedisClientLike>).call === 'function' && typeof (v as Partial<RedisClientLike>).duplicate === 'function';
}

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
  private readonly prefix: string;
  private readonly log: KeySetLog;
  private readonly maxKeys: number;
  /** Tells this store's own notices apart from other processes'. */
  private readonly instance = randomBytes(8).toString('hex');
  private clientPromise: Promise<RedisClientLike> | undefined;
  private subscriberPromise: Promise<RedisClientLike> | undefined;
  private readonly ownsClient: boolean;
  private readonly watchers = new Map<string, Set<Watcher>>();
  private readonly lastLogged = new Map<string, number>();
  private closed = false;
  private saveSeq = 0;
  /** The connections once made, for `fleetStatus()`. */
  private connectedClient: RedisClientLike | null = null;
  private connectedSubscriber: RedisClientLike | null = null;
  /** When a Redis call last failed and last succeeded (or a connection became ready). */
  private failedAt = 0;
  private answeredAt = 0;
  /** Calls fail at once until then (`REDIS_STORE_DEFAULTS.failFastMs` after a failure). */
  private failFastUntil = 0;
  /** A connection was ready once: calls are bounded by the command timeout from then on, not the connect timeout. */
  private everReady = false;
  /** Where Redis is, as logs show it: host and port, never credentials. */
  private readonly target: string;
  private subscribing: Promise<void> = Promise.resolve();

  constructor(private readonly options: RedisKeySetStoreOptions) {
    const prefix = options.keyPrefix ?? REDIS_STORE_DEFAULTS.keyPrefix;
    if (typeof prefix !== 'string' || prefix.length > 100) throw new JwksArgumentError('RedisKeySetStore: keyPrefix must be a string of at most 100 characters');
    if (options.redis === undefined || options.redis === null) throw new JwksArgumentError('RedisKeySetStore: redis (a URL, ioredis options or an ioredis client) is required');
    this.prefix = prefix;
    this.log = options.log ?? new Logger('JwksAuth');
    this.maxKeys = options.maxKeys ?? JWKS_DEFAULTS.maxKeys;
    this.ownsClient = !isClient(options.redis);
    this.target = describeTarget(options.redis);
  }

  /**
   * The Redis keys and channel of a key set: the issuer's host, readable for an operator, then a
   * hash of issuer and JWKS URI (issuers are text of any length and any characters; the hash keeps
   * keys short, safe, and distinct for two tenants on one host).
   */
  keysOf(id: KeySetId): RedisKeySetKeys {
    const digest = createHash('sha256').update(`${id.issuer}\n${id.jwksUri ?? ''}`).digest('hex').slice(0, 32);
    const base = `${this.prefix}${readableHost(id.issuer)}:${digest}`;
    return { state: `${base}:state`, lease: `${base}:lease`, channel: `${base}:changed` };
  }

  async load(id: KeySetId): Promise<KeySetState | null> {
    try {
      return (await this.read(id)).state;
    } catch (err) {
      this.trouble('load', err);
      return null;
    }
  }

  /** Overwrites the shared state (a plain store's save). Fleet mode writes through `update`, which loses no other process's change. */
  async save(id: KeySetId, state: KeySetState): Promise<void> {
    const keys = this.keysOf(id);
    const text = this.encode(id, state);
    try {
      await this.run((c) => c.call('EVAL', SAVE_SCRIPT, 1, keys.state, text, keys.channel, this.notice()));
    } catch (err) {
      this.trouble('save', err);
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
        const written = await this.run((c) => c.call('EVAL', COMPARE_AND_SAVE_SCRIPT, 1, keys.state, read.seen, text, keys.channel, this.notice(), REDIS_STORE_DEFAULTS.maxStateBytes));
        if (Number(written) === 1) {
          this.holds(keys.channel, text);
          return next;
        }
      }
      throw new JwksStoreError('conflict', `RedisKeySetStore: the shared state changed under every one of ${REDIS_STORE_DEFAULTS.maxUpdateAttempts} writes`);
    } catch (err) {
      this.trouble('update', err);
      throw err;
    }
  }

  /** `'degraded'` while the last Redis call failed or a connection is lost; `'joined'` otherwise. */
  fleetStatus(): 'joined' | 'degraded' {
    const lost = [this.connectedClient, this.connectedSubscriber].some((c) => c !== null && LOST.has(c.status));
    return lost || this.failedAt > this.answeredAt ? 'degraded' : 'joined';
  }

  private encode(id: KeySetId, state: KeySetState): string {
    const text = JSON.stringify({ format: FORMAT, version: FORMAT_VERSION, issuer: id.issuer, jwksUri: id.jwksUri, state });
    if (Buffer.byteLength(text) > REDIS_STORE_DEFAULTS.maxStateBytes) throw new JwksStoreError('too-large', 'RedisKeySetStore: the key-set state is larger than the store keeps');
    return text;
  }

  /** The change notice: who wrote, never what (watchers read the key back). */
  private notice(): string {
    return JSON.stringify({ from: this.instance, seq: ++this.saveSeq });
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
      const subscribing = this.runSubscriber((s) => s.subscribe(keys.channel)).then(
        () => undefined,
        (err: unknown) => this.trouble('subscribe', err),
      );
      this.subscribing = Promise.all([this.subscribing, subscribing]).then(() => undefined);
    }
    return () => {
      const current = this.watchers.get(keys.channel);
      if (current === undefined || !current.delete(watcher) || current.size > 0) return;
      this.watchers.delete(keys.channel);
      if (!this.closed) void this.runSubscriber((s) => s.unsubscribe(keys.channel)).catch((err: unknown) => this.trouble('unsubscribe', err));
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
      await this.run((c) => c.call('DEL', this.keysOf(id).state));
    } catch (err) {
      this.trouble('delete', err);
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
    if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0) throw new JwksArgumentError('RedisKeySetStore.lease(id, ttlMs): ttlMs must be a positive integer');
    const key = this.keysOf(id).lease;
    const token = randomBytes(16).toString('hex');
    let reply: unknown;
    try {
      reply = await this.run((c) => c.call('EVAL', LEASE_SCRIPT, 1, key, token, ttlMs));
    } catch (err) {
      this.trouble('lease', err);
      throw err;
    }
    if (Number(reply) !== 1) return null;
    let released = false;
    return {
      release: async () => {
        if (released) return;
        released = true;
        try {
          await this.run((c) => c.call('EVAL', RELEASE_SCRIPT, 1, key, token));
        } catch (err) {
          this.trouble('release', err);
        }
      },
    };
  }

  /** Stops watching and closes the connections this store opened (a client passed in stays open). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.watchers.clear();
    const subscriber = this.subscriberPromise;
    const client = this.ownsClient ? this.clientPromise : undefined;
    await Promise.all([subscriber, client].map((p) => (p === undefined ? undefined : p.then(quitBounded, () => undefined))));
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
    const reply = await this.run((c) => c.call('EVAL', READ_SCRIPT, 1, this.keysOf(id).state, REDIS_STORE_DEFAULTS.maxStateBytes, held));
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
    this.rateLimited(`refused:${reason}`, () => this.log.warn(`JWKS Redis store: stored key set not used (${reason})`));
    return null;
  }

  /** A notice on a watched channel: from another process, so the key is read back and pushed if it changed. */
  private onMessage(channel: string, message: string): void {
    const set = this.watchers.get(channel);
    if (set === undefined) return;
    let from: unknown;
    try {
      from = (JSON.parse(message) as { from?: unknown })?.from;
    } catch {
      // A notice is only a hint to read the key; one we cannot parse still triggers the read.
    }
    if (from === this.instance) return;
    for (const w of set) void this.deliver(w);
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
      this.trouble('watch', err);
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

  /** After a reconnect, messages may have been missed: the keys are the truth, so each is read again. */
  private resync(): void {
    for (const set of this.watchers.values()) for (const w of set) void this.deliver(w);
  }

  private client(): Promise<RedisClientLike> {
    this.clientPromise ??= (async () => {
      const redis = this.options.redis;
      if (isClient(redis)) {
        redis.on('ready', () => this.reachable());
        this.connectedClient = redis;
        return redis;
      }
      const Redis = await loadIoredis();
      // One retry per command: a command queued while Redis is down fails at the next failed
      // reconnect instead of after 20, and our own timeout bounds it anyway.
      const client = typeof redis === 'string' ? new Redis(redis, { maxRetriesPerRequest: 1 }) : new Redis({ maxRetriesPerRequest: 1, ...redis });
      // Without a listener ioredis prints every connection error; ours are logged, rate-limited.
      client.on('error', (err: unknown) => this.trouble('connection', err));
      client.on('ready', () => this.reachable());
      this.connectedClient = client;
      return client;
    })();
    this.clientPromise.catch(() => {
      // A missing ioredis: the next call tries again (and reports it again).
      this.clientPromise = undefined;
    });
    return this.clientPromise;
  }

  /** The pub/sub connection, a duplicate of the client (a subscribed connection can run no other command); always ours to close. */
  private subscriber(): Promise<RedisClientLike> {
    this.subscriberPromise ??= this.client().then((c) => {
      // Our own resubscription, not ioredis's: its automatic one leaves a rejected promise
      // unhandled when Redis drops again at once, and an unhandled rejection ends the process.
      // (A Cluster's duplicate takes other arguments and keeps its own.)
      const s = (c as { isCluster?: boolean }).isCluster === true ? c.duplicate() : c.duplicate({ autoResubscribe: false });
      let readyBefore = false;
      s.on('error', (err: unknown) => this.trouble('subscriber', err));
      s.on('message', (channel: string, message: string) => this.onMessage(channel, message));
      s.on('ready', () => {
        this.reachable();
        const channels = [...this.watchers.keys()];
        // Every time: a subscription queued before a first connection that failed never reached Redis.
        if (channels.length > 0) s.subscribe(...channels).catch((err: unknown) => this.trouble('subscribe', err));
        if (readyBefore) this.resync();
        readyBefore = true;
      });
      if (s.status === 'ready') readyBefore = true;
      this.connectedSubscriber = s;
      return s;
    });
    this.subscriberPromise.catch(() => {
      this.subscriberPromise = undefined;
    });
    return this.subscriberPromise;
  }

  private run<T>(op: (c: RedisClientLike) => Promise<T>): Promise<T> {
    return this.bounded(() => this.client().then((c) => (LOST.has(c.status) ? Promise.reject(new JwksStoreError('unavailable', `RedisKeySetStore: Redis connection ${c.status}`)) : op(c))));
  }

  private runSubscriber<T>(op: (c: RedisClientLike) => Promise<T>): Promise<T> {
    return this.bounded(() => this.subscriber().then(op));
  }

  /** Every Redis call ends within the timeout: a hung Redis costs a caller at most that. */
  private bounded<T>(call: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new JwksStoreError('closed', 'RedisKeySetStore: closed'));
    if (Date.now() < this.failFastUntil) return Promise.reject(new JwksStoreError('unavailable', 'RedisKeySetStore: Redis failed moments ago; not asked again yet'));
    const ms = this.everReady ? REDIS_STORE_DEFAULTS.commandTimeoutMs : REDIS_STORE_DEFAULTS.connectTimeoutMs;
    return new Promise<T>((resolve, reject) => {
      const fail = (err: JwksStoreError | JwksMissingDependencyError): void => {
        if (err instanceof JwksStoreError && (err.reason === 'timeout' || err.reason === 'unavailable')) this.unreachable();
        reject(err);
      };
      const timer = setTimeout(() => fail(new JwksStoreError('timeout', `RedisKeySetStore: no answer from Redis within ${ms} ms`)), ms);
      timer.unref?.();
      call().then(
        (v) => {
          clearTimeout(timer);
          this.answeredAt = Math.max(Date.now(), this.failedAt + 1);
          resolve(v);
        },
        (err: unknown) => {
          clearTimeout(timer);
          fail(err instanceof JwksMissingDependencyError || err instanceof JwksStoreError ? err : new JwksStoreError('unavailable', `RedisKeySetStore: Redis failed (${errorCode(err)})`));
        },
      );
    });
  }

  private unreachable(): void {
    const now = Date.now();
    // Strictly after the last answer, so a failure in the same millisecond still shows as degraded.
    this.failedAt = Math.max(now, this.answeredAt + 1);
    this.failFastUntil = now + REDIS_STORE_DEFAULTS.failFastMs;
  }

  /** A connection became ready (a reconnect after an outage): calls go through again at once. */
  private reachable(): void {
    if (this.everReady && this.failedAt > this.answeredAt) this.announce(`JWKS Redis store: Redis at ${this.target} answers again; this process rejoins the fleet`);
    this.everReady = true;
    this.failFastUntil = 0;
    this.answeredAt = Math.max(Date.now(), this.failedAt + 1);
  }

  /** Redis trouble, logged at most once per kind and interval: an outage must not flood the log. */
  private trouble(what: string, err: unknown): void {
    const code = err instanceof JwksStoreError ? err.reason : errorCode(err);
    // Keyed by the call only: one outage shows as several codes (timeout, then a refused connection).
    this.rateLimited(`trouble:${what}`, () => {
      if (err instanceof JwksMissingDependencyError) this.log.error(`JWKS Redis store: ${err.message}`);
      else if (what === 'connection') this.log.warn(`JWKS Redis store: connection to ${this.target} failed (${code}); this process verifies from its own memory, without the fleet (fleet: degraded), until Redis answers: check fleet.redis if this lasts`);
      else this.log.warn(`JWKS Redis store: ${what} failed (${code}); the key set carries on from memory`);
    });
  }

  /** Good news, at log level (Nest's `Logger.log`), else as a warning. */
  private announce(message: string): void {
    if (this.log.log !== undefined) this.log.log(message);
    else this.log.warn(message);
  }

  private rateLimited(kind: string, write: () => void): void {
    const now = Date.now();
    const last = this.lastLogged.get(kind);
    if (last !== undefined && now - last < REDIS_STORE_DEFAULTS.logIntervalMs) return;
    // The kinds are a fixed, small set (refusal reasons and calls): the map stays small.
    this.lastLogged.set(kind, now);
    write();
  }
}

/** The code of a Redis or socket error, never its message (which may quote a host or a value). */
function errorCode(err: unknown): string {
  const code = (err as { code?: unknown })?.code;
  if (typeof code === 'string' && /^[A-Z0-9_]{1,40}$/.test(code)) return code;
  const name = (err as { name?: unknown })?.name;
  return typeof name === 'string' && /^[A-Za-z]{1,40}$/.test(name) ? name : 'error';
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

/** Host and port of the Redis the options name, for a log line: never a password, never a path. */
function describeTarget(redis: RedisKeySetStoreOptions['redis']): string {
  if (typeof redis === 'string') {
    try {
      const url = new URL(redis);
      return url.host === '' ? 'the configured URL' : url.host;
    } catch {
      return 'the configured URL';
    }
  }
  if (isClient(redis)) {
    const o = (redis as { options?: { host?: unknown; port?: unknown } }).options;
    return typeof o?.host === 'string' && typeof o.port === 'number' ? `${o.host}:${o.port}` : 'the given client';
  }
  if (Array.isArray((redis as { sentinels?: unknown }).sentinels)) return 'the configured sentinels';
  const host = typeof redis.host === 'string' ? redis.host : '127.0.0.1';
  const port = typeof redis.port === 'number' ? redis.port : 6379;
  return `${host}:${port}`;
}

/** QUIT, or a hard disconnect if Redis does not answer within the timeout. */
async function quitBounded(c: RedisClientLike): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), REDIS_STORE_DEFAULTS.commandTimeoutMs);
    timer.unref?.();
  });
  const outcome = await Promise.race([c.quit().then(() => 'quit' as const, () => 'failed' as const), timeout]);
  clearTimeout(timer);
  if (outcome !== 'quit') c.disconnect();
}
