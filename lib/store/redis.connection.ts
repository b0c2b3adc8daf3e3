import { randomBytes } from 'node:crypto';
import { Logger } from '@nestjs/common';
import type { KeySetLog } from '../cache/key-set.source.js';
import { JwksArgumentError, JwksMissingDependencyError, JwksStoreError } from '../errors/jwks.errors.js';
import { REDIS_STORE_DEFAULTS } from '../jwks-auth.constants.js';

/**
 * The part of an ioredis client (`Redis`, `Cluster`, a Sentinel-backed `Redis`) the Redis stores
 * use, written out so the shipped declarations compile in an app without ioredis (an optional
 * peer). Commands go through `call`, which every ioredis client has.
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

/** Where Redis is: a URL (`redis://…`, `rediss://…`), ioredis options (Sentinel included), or an ioredis client. */
export type RedisTarget = string | Record<string, unknown> | RedisClientLike;

/**
 * Takes a lease (SET NX PX). A lease found without an expiry, or with one longer than this
 * caller's (every process derives the ttl from the same formula), is given this caller's: a
 * planted lease (no TTL, or a year) would otherwise leave every process waiting out its full wait
 * on each refresh and then fetching on its own.
 */
const LEASE_SCRIPT = `if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
local pttl = redis.call('PTTL', KEYS[1])
if pttl == -1 or pttl > tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`;
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
export function loadIoredis(
  load: () => Promise<IoredisModule> = () => import('ioredis') as Promise<IoredisModule>,
  feature = 'RedisKeySetStore',
): Promise<new (...args: unknown[]) => RedisClientLike> {
  ioredis ??= load().then(
    (m) => (m.Redis ?? m.default) as new (...args: unknown[]) => RedisClientLike,
    () => {
      ioredis = undefined;
      throw new JwksMissingDependencyError('ioredis', feature);
    },
  );
  return ioredis;
}

export function isRedisClient(v: unknown): v is RedisClientLike {
  return typeof v === 'object' && v !== null && typeof (v as Partial<RedisClientLike>).call === 'function' && typeof (v as Partial<RedisClientLike>).duplicate === 'function';
}

/** What a store tells its connection: its name in errors and logs, and what to do with pub/sub. */
export interface RedisConnectionOptions {
  redis: RedisTarget;
  /** Prefix of the store's keys and channels; default `REDIS_STORE_DEFAULTS.keyPrefix`. */
  keyPrefix?: string;
  /** In error messages: `RedisKeySetStore`. */
  name: string;
  /** At the start of log lines: `JWKS Redis store`. */
  logLabel: string;
  /** What the store does while Redis is away, ending the connection-failed line. */
  withoutRedis: string;
  /** What the store does after another failed call, ending its line. */
  afterFailure: string;
  log?: KeySetLog;
  /**
   * A change notice on a subscribed channel from another process (this process's own notices are
   * left out): the store reads the key back. A notice carries who wrote, never what.
   */
  onNotice(channel: string): void;
  /** The channels to (re)subscribe whenever the subscriber connects. */
  channels(): string[];
  /** The subscriber reconnected: messages may have been missed, so the store reads its keys again. */
  onResubscribed(): void;
}

/**
 * One store's Redis connections and their discipline, shared by every Redis store of the module
 * (key sets, client-credentials tokens): a client made from a URL or options (or one passed in,
 * which stays the caller's), a pub/sub duplicate that resubscribes itself, every call bounded by a
 * timeout and failing fast for a moment after a failure, and Redis trouble logged at most once per
 * kind and interval, naming the host and port, never a password.
 */
export class RedisConnection {
  readonly log: KeySetLog;
  private clientPromise: Promise<RedisClientLike> | undefined;
  private subscriberPromise: Promise<RedisClientLike> | undefined;
  private readonly ownsClient: boolean;
  private readonly lastLogged = new Map<string, number>();
  private closed = false;
  /** The connections once made, for `status()`. */
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
  readonly target: string;

  /** Prefix of every key and channel of the store. */
  readonly prefix: string;
  /** Tells this store's own change notices apart from other processes'. */
  private readonly instance = randomBytes(8).toString('hex');
  private noticeSeq = 0;

  constructor(private readonly options: RedisConnectionOptions) {
    const prefix = options.keyPrefix ?? REDIS_STORE_DEFAULTS.keyPrefix;
    if (typeof prefix !== 'string' || prefix.length > 100) throw new JwksArgumentError(`${options.name}: keyPrefix must be a string of at most 100 characters`);
    if (options.redis === undefined || options.redis === null) throw new JwksArgumentError(`${options.name}: redis (a URL, ioredis options or an ioredis client) is required`);
    this.prefix = prefix;
    this.log = options.log ?? new Logger('JwksAuth');
    this.ownsClient = !isRedisClient(options.redis);
    this.target = describeRedisTarget(options.redis);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** `'degraded'` while the last Redis call failed or a connection is lost; `'joined'` otherwise. */
  status(): 'joined' | 'degraded' {
    const lost = [this.connectedClient, this.connectedSubscriber].some((c) => c !== null && LOST.has(c.status));
    return lost || this.failedAt > this.answeredAt ? 'degraded' : 'joined';
  }

  /** A command on the client connection, bounded. */
  run<T>(op: (c: RedisClientLike) => Promise<T>): Promise<T> {
    return this.bounded(() => this.client().then((c) => (LOST.has(c.status) ? Promise.reject(new JwksStoreError('unavailable', `${this.options.name}: Redis connection ${c.status}`)) : op(c))));
  }

  /** A command on the pub/sub connection (subscribe, unsubscribe), bounded. */
  runSubscriber<T>(op: (c: RedisClientLike) => Promise<T>): Promise<T> {
    return this.bounded(() => this.subscriber().then(op));
  }

  /**
   * `SET key token NX PX ttl` with a random token: a release function, or null while another
   * process holds the lease. Rejects (`JwksStoreError`) on Redis trouble, never null: null would
   * make every process wait for a holder that does not exist. The release deletes the key only
   * while it still holds this token, and never rejects: a lease not released lapses at its ttl.
   */
  async lease(key: string, ttlMs: number): Promise<{ release(): Promise<void> } | null> {
    if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0) throw new JwksArgumentError(`${this.options.name}.lease: ttlMs must be a positive integer`);
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

  /** The change notice a write publishes: who wrote (and a sequence number), never what. */
  notice(): string {
    return JSON.stringify({ from: this.instance, seq: ++this.noticeSeq });
  }

  /** A notice from another process reaches the store; this process's own do not. */
  private onMessage(channel: string, message: string): void {
    let from: unknown;
    try {
      from = (JSON.parse(message) as { from?: unknown })?.from;
    } catch {
      // A notice is only a hint to read the key; one we cannot parse still triggers the read.
    }
    if (from === this.instance) return;
    this.options.onNotice(channel);
  }

  /** Closes the connections this store opened (a client passed in stays open). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const subscriber = this.subscriberPromise;
    const client = this.ownsClient ? this.clientPromise : undefined;
    await Promise.all([subscriber, client].map((p) => (p === undefined ? undefined : p.then(quitBounded, () => undefined))));
  }

  /** Redis trouble, logged at most once per kind and interval: an outage must not flood the log. */
  trouble(what: string, err: unknown): void {
    const code = err instanceof JwksStoreError ? err.reason : redisErrorCode(err);
    // Keyed by the call only: one outage shows as several codes (timeout, then a refused connection).
    this.rateLimited(`trouble:${what}`, () => {
      const label = this.options.logLabel;
      if (err instanceof JwksMissingDependencyError) this.log.error(`${label}: ${err.message}`);
      else if (what === 'connection') this.log.warn(`${label}: connection to ${this.target} failed (${code}); ${this.options.withoutRedis}`);
      else this.log.warn(`${label}: ${what} failed (${code}); ${this.options.afterFailure}`);
    });
  }

  /** A line written at most once per `kind` per `REDIS_STORE_DEFAULTS.logIntervalMs`. */
  rateLimited(kind: string, write: () => void): void {
    const now = Date.now();
    const last = this.lastLogged.get(kind);
    if (last !== undefined && now - last < REDIS_STORE_DEFAULTS.logIntervalMs) return;
    // The kinds are a fixed, small set (refusal reasons and calls): the map stays small.
    this.lastLogged.set(kind, now);
    write();
  }

  private client(): Promise<RedisClientLike> {
    this.clientPromise ??= (async () => {
      const redis = this.options.redis;
      if (isRedisClient(redis)) {
        redis.on('ready', () => this.reachable());
        this.connectedClient = redis;
        return redis;
      }
      const Redis = await loadIoredis(undefined, this.options.name);
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
        const channels = this.options.channels();
        // Every time: a subscription queued before a first connection that failed never reached Redis.
        if (channels.length > 0) s.subscribe(...channels).catch((err: unknown) => this.trouble('subscribe', err));
        if (readyBefore) this.options.onResubscribed();
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

  /** Every Redis call ends within the timeout: a hung Redis costs a caller at most that. */
  private bounded<T>(call: () => Promise<T>): Promise<T> {
    const name = this.options.name;
    if (this.closed) return Promise.reject(new JwksStoreError('closed', `${name}: closed`));
    if (Date.now() < this.failFastUntil) return Promise.reject(new JwksStoreError('unavailable', `${name}: Redis failed moments ago; not asked again yet`));
    const ms = this.everReady ? REDIS_STORE_DEFAULTS.commandTimeoutMs : REDIS_STORE_DEFAULTS.connectTimeoutMs;
    return new Promise<T>((resolve, reject) => {
      const fail = (err: JwksStoreError | JwksMissingDependencyError): void => {
        if (err instanceof JwksStoreError && (err.reason === 'timeout' || err.reason === 'unavailable')) this.unreachable();
        reject(err);
      };
      const timer = setTimeout(() => fail(new JwksStoreError('timeout', `${name}: no answer from Redis within ${ms} ms`)), ms);
      timer.unref?.();
      call().then(
        (v) => {
          clearTimeout(timer);
          this.answeredAt = Math.max(Date.now(), this.failedAt + 1);
          resolve(v);
        },
        (err: unknown) => {
          clearTimeout(timer);
          fail(err instanceof JwksMissingDependencyError || err instanceof JwksStoreError ? err : new JwksStoreError('unavailable', `${name}: Redis failed (${redisErrorCode(err)})`));
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
    if (this.everReady && this.failedAt > this.answeredAt) this.announce(`${this.options.logLabel}: Redis at ${this.target} answers again; this process rejoins the fleet`);
    this.everReady = true;
    this.failFastUntil = 0;
    this.answeredAt = Math.max(Date.now(), this.failedAt + 1);
  }

  /** Good news, at log level (Nest's `Logger.log`), else as a warning. */
  private announce(message: string): void {
    if (this.log.log !== undefined) this.log.log(message);
    else this.log.warn(message);
  }
}

/** The code of a Redis or socket error, never its message (which may quote a host or a value). */
export function redisErrorCode(err: unknown): string {
  const code = (err as { code?: unknown })?.code;
  if (typeof code === 'string' && /^[A-Z0-9_]{1,40}$/.test(code)) return code;
  const name = (err as { name?: unknown })?.name;
  return typeof name === 'string' && /^[A-Za-z]{1,40}$/.test(name) ? name : 'error';
}

/** Host and port of the Redis the options name, for a log line: never a password, never a path. */
export function describeRedisTarget(redis: RedisTarget): string {
  if (typeof redis === 'string') {
    try {
      const url = new URL(redis);
      return url.host === '' ? 'the configured URL' : url.host;
    } catch {
      return 'the configured URL';
    }
  }
  if (isRedisClient(redis)) {
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
