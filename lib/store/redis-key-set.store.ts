import { createHash, randomBytes } from 'node:crypto';
import { Logger } from '@nestjs/common';
import type { KeySetState } from '../cache/key-set.state.js';
import type { KeySetLog } from '../cache/key-set.source.js';
import { JwksArgumentError, JwksMissingDependencyError, JwksStoreError } from '../errors/jwks.errors.js';
import { JWKS_DEFAULTS, REDIS_STORE_DEFAULTS } from '../jwks-auth.constants.js';
import { checkKeySetState, type KeySetStateRefusal } from './key-set-state.validator.js';
import type { KeySetId, KeySetLease, KeySetStore } from './key-set.store.js';

/**
 * The part of an ioredis client (`Redis`, `Cluster`, a Sentinel-backed `Redis`) this store uses,
 * written out so the shipped declarations compile in an app without ioredis (an optional peer).
 * Commands go through `call`, which every ioredis client has.
 */
export interface RedisClientLike {
  readonly status: string;
  call(command: string, ...args: (string | number)[]): Promise<unknown>;
  duplicate(): RedisClientLike;
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
 * without being transferred. Returns nil (no key), -1 (too large) or the text; another Redis type
 * at the key fails with WRONGTYPE.
 */
const READ_SCRIPT = `local n = redis.call('STRLEN', KEYS[1])
if n > tonumber(ARGV[1]) then return -1 end
return redis.call('GET', KEYS[1])`;
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
  /** The stored text this process last holds (delivered or saved itself): an unchanged value is not pushed again. */
  lastText: string | null;
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
 * Not exported yet: fleet mode (the `fleet` option, the fleet-wide lease around fetches and the
 * propagation of operator actions) will plug it into the module; until then nothing uses it.
 */
export class RedisKeySetStore implements KeySetStore {
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
  private subscribing: Promise<void> = Promise.resolve();

  constructor(private readonly options: RedisKeySetStoreOptions) {
    const prefix = options.keyPrefix ?? REDIS_STORE_DEFAULTS.keyPrefix;
    if (typeof prefix !== 'string' || prefix.length > 100) throw new JwksArgumentError('RedisKeySetStore: keyPrefix must be a string of at most 100 characters');
    if (options.redis === undefined || options.redis === null) throw new JwksArgumentError('RedisKeySetStore: redis (a URL, ioredis options or an ioredis client) is required');
    this.prefix = prefix;
    this.log = options.log ?? new Logger('JwksAuth');
    this.maxKeys = options.maxKeys ?? JWKS_DEFAULTS.maxKeys;
    this.ownsClient = !isClient(options.redis);
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
      const read = await this.read(id);
      return read?.state ?? null;
    } catch (err) {
      this.trouble('load', err);
      return null;
    }
  }

  async save(id: KeySetId, state: KeySetState): Promise<void> {
    const keys = this.keysOf(id);
    const text = JSON.stringify({ format: FORMAT, version: FORMAT_VERSION, issuer: id.issuer, jwksUri: id.jwksUri, state });
    if (Buffer.byteLength(text) > REDIS_STORE_DEFAULTS.maxStateBytes) throw new JwksStoreError('too-large', 'RedisKeySetStore: the key-set state is larger than the store keeps');
    const notice = JSON.stringify({ from: this.instance, seq: ++this.saveSeq });
    try {
      await this.run((c) => c.call('EVAL', SAVE_SCRIPT, 1, keys.state, text, keys.channel, notice));
    } catch (err) {
      this.trouble('save', err);
      throw err;
    }
    // This process holds what it saved: the value is not pushed back to it.
    for (const w of this.watchers.get(keys.channel) ?? []) w.lastText = text;
  }

  watch(id: KeySetId, onChange: (state: KeySetState) => void): () => void {
    const keys = this.keysOf(id);
    const watcher: Watcher = { id, keys, onChange, lastText: null };
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
      reply = await this.run((c) => c.call('SET', key, token, 'NX', 'PX', ttlMs));
    } catch (err) {
      this.trouble('lease', err);
      throw err;
    }
    if (reply !== 'OK') return null;
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

  /** The stored state with its text, after every check; null when there is none or it is refused (logged). */
  private async read(id: KeySetId): Promise<{ text: string; state: KeySetState } | null> {
    const keys = this.keysOf(id);
    let reply: unknown;
    try {
      reply = await this.run((c) => c.call('EVAL', READ_SCRIPT, 1, keys.state, REDIS_STORE_DEFAULTS.maxStateBytes));
    } catch (err) {
      if (isWrongType(err)) return this.refuse('foreign');
      throw err;
    }
    if (reply === null || reply === undefined) return null;
    if (reply === -1) return this.refuse('too-large');
    if (typeof reply !== 'string' && !Buffer.isBuffer(reply)) return this.refuse('foreign');
    const text = reply.toString();
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
    return { text, state: checked.state };
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

  /** Reads the key of a watched set and pushes it when it differs from what this process holds. */
  private async deliver(w: Watcher): Promise<void> {
    let read: { text: string; state: KeySetState } | null;
    try {
      read = await this.read(w.id);
    } catch (err) {
      this.trouble('watch', err);
      return;
    }
    if (read === null || read.text === w.lastText || this.closed || !this.watchers.get(w.keys.channel)?.has(w)) return;
    w.lastText = read.text;
    try {
      w.onChange(read.state);
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
      if (isClient(redis)) return redis;
      const Redis = await loadIoredis();
      // One retry per command: a command queued while Redis is down fails at the next failed
      // reconnect instead of after 20, and our own timeout bounds it anyway.
      const client = typeof redis === 'string' ? new Redis(redis, { maxRetriesPerRequest: 1 }) : new Redis({ maxRetriesPerRequest: 1, ...redis });
      // Without a listener ioredis prints every connection error; ours are logged, rate-limited.
      client.on('error', (err: unknown) => this.trouble('connection', err));
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
      const s = c.duplicate();
      let readyBefore = false;
      s.on('error', (err: unknown) => this.trouble('subscriber', err));
      s.on('message', (channel: string, message: string) => this.onMessage(channel, message));
      s.on('ready', () => {
        if (readyBefore) this.resync();
        readyBefore = true;
      });
      if (s.status === 'ready') readyBefore = true;
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
    const ms = REDIS_STORE_DEFAULTS.commandTimeoutMs;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new JwksStoreError('timeout', `RedisKeySetStore: no answer from Redis within ${ms} ms`)), ms);
      timer.unref?.();
      call().then(
        (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        (err: unknown) => {
          clearTimeout(timer);
          reject(err instanceof JwksMissingDependencyError || err instanceof JwksStoreError || isWrongType(err) ? err : new JwksStoreError('unavailable', `RedisKeySetStore: Redis failed (${errorCode(err)})`));
        },
      );
    });
  }

  /** Redis trouble, logged at most once per kind and interval: an outage must not flood the log. */
  private trouble(what: string, err: unknown): void {
    const code = err instanceof JwksStoreError ? err.reason : errorCode(err);
    // Keyed by the call only: one outage shows as several codes (timeout, then a refused connection).
    this.rateLimited(`trouble:${what}`, () => {
      if (err instanceof JwksMissingDependencyError) this.log.error(`JWKS Redis store: ${err.message}`);
      else this.log.warn(`JWKS Redis store: ${what} failed (${code}); the key set carries on from memory`);
    });
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

/** Redis's answer when the key holds another type (a hash, a list): someone else's value, not trouble. */
function isWrongType(err: unknown): boolean {
  const message = (err as { message?: unknown })?.message;
  return typeof message === 'string' && message.startsWith('WRONGTYPE');
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
