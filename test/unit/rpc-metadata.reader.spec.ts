/**
 * The default token reader of microservice handlers on every Nest transport, fed through the real
 * context classes of `@nestjs/microservices` (no broker is needed: a context is what the server
 * builds from a received message). gRPC has no context class: its `Metadata` (`@grpc/grpc-js`, not
 * installed here) is given as a look-alike with the same `get`/`getMap`; NATS headers likewise
 * (`nats` not installed), written after nats.js `MsgHdrsImpl`: a `Map` of keys as sent, `keys()`,
 * and `values(k, match)` / `get(k, match)` matching exactly unless told otherwise.
 */
import type { ContextType, ExecutionContext } from '@nestjs/common';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { KafkaContext, MqttContext, NatsContext, RedisContext, RmqContext, TcpContext } from '@nestjs/microservices';
import { TokenMalformedError, TokenMissingError } from '../../lib';
import { JWKS_DEFAULTS } from '../../lib/jwks-auth.constants';
import { microservicesPeer } from '../../lib/transports/microservices.peer';
import { compileMicroserviceTokenSource, type ResolvedMicroserviceTokenSource } from '../../lib/transports/rpc-token.source';

const TOKEN = 'aaa.bbb.ccc';

function contextOf(data: unknown, rpcContext: unknown): ExecutionContext {
  const ctx = new ExecutionContextHost([data, rpcContext]);
  ctx.setType('rpc' as ContextType);
  return ctx;
}

/** The token read, or the refusal code of the error thrown (anything else fails the test). */
function read(data: unknown, rpcContext: unknown, source: ResolvedMicroserviceTokenSource | null = null): string {
  const reader = compileMicroserviceTokenSource(source, () => undefined);
  try {
    return reader(contextOf(data, rpcContext), undefined);
  } catch (err) {
    if (err instanceof TokenMissingError || err instanceof TokenMalformedError) return err.code;
    throw err;
  }
}

const grpcMetadata = (entries: Record<string, unknown[]>) => ({
  get: (key: string) => entries[key.toLowerCase()] ?? [],
  getMap: () => ({}),
});
/** nats.js `Match`: how `values`/`get` compare names (`Exact` is their default). */
const enum Match {
  Exact = 0,
  CanonicalMIME = 1,
  IgnoreCase = 2,
}
const canonicalMime = (k: string) => k.toLowerCase().replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => dash + c.toUpperCase());
/**
 * nats.js `MsgHdrsImpl`'s reading surface: keys kept as sent (a received message's headers are
 * decoded with `append(k, v)`, no canonicalisation), `keys()` all of them, `values()` of an absent
 * key is [], `get()` of an absent key is ''.
 */
const natsHeaders = (entries: Record<string, string[]>) => {
  const headers = new Map(Object.entries(entries));
  const findKeys = (k: string, match: Match) => {
    const keys = [...headers.keys()];
    if (match === Match.Exact) return keys.filter((v) => v === k);
    if (match === Match.CanonicalMIME) return keys.filter((v) => v === canonicalMime(k));
    return keys.filter((v) => v.toLowerCase() === k.toLowerCase());
  };
  return {
    keys: () => [...headers.keys()],
    values: (k: string, match = Match.Exact) => findKeys(k, match).flatMap((v) => headers.get(v) ?? []),
    get: (k: string, match = Match.Exact) => {
      const [key] = findKeys(k, match);
      return key === undefined ? '' : (headers.get(key)?.[0] ?? '');
    },
  };
};

type Build = (entry: Record<string, unknown> | undefined) => unknown;
/** Each transport's context carrying `entry` (name → value) as its metadata. */
const TRANSPORTS: Array<[string, Build]> = [
  ['gRPC Metadata', (e) => grpcMetadata(Object.fromEntries(Object.entries(e ?? {}).map(([k, v]) => [k.toLowerCase(), Array.isArray(v) ? v : [v]])))],
  ['NatsContext', (e) => new NatsContext(['subject', e && natsHeaders(Object.fromEntries(Object.entries(e).map(([k, v]) => [k, (Array.isArray(v) ? v : [v]) as string[]])))])],
  ['KafkaContext', (e) => new KafkaContext([{ headers: e } as never, 0, 'topic', {} as never, async () => undefined, {} as never])],
  ['RmqContext', (e) => new RmqContext([{ properties: { headers: e } }, {}, 'pattern'])],
  ['MqttContext (MQTT 5 user properties)', (e) => new MqttContext(['topic', { properties: { userProperties: e } }])],
  ['TcpContext (packet metadata)', (e) => new TcpContext([{} as never, 'pattern', e as Record<string, string>])],
  ['RedisContext (packet metadata)', (e) => new RedisContext(['channel', e as Record<string, string>])],
];
const PACKET = new Set(['TcpContext (packet metadata)', 'RedisContext (packet metadata)']);
/** NestJS 11's TCP and Redis contexts carry no packet metadata (NestJS 12 added it): those cases need 12. */
const PACKET_METADATA = typeof (TcpContext.prototype as { getMetadata?: unknown }).getMetadata === 'function';
const TRANSPORTS_HERE = TRANSPORTS.filter(([name]) => PACKET_METADATA || !PACKET.has(name));

describe('the default microservice token reader, per transport', () => {
  beforeAll(() => microservicesPeer.preload());

  it('has loaded the app’s @nestjs/microservices (the classes the readers tell transports apart by)', () => {
    expect(microservicesPeer.get()?.TcpContext).toBe(TcpContext);
  });

  describe.each(TRANSPORTS_HERE)('%s', (name, build) => {
    it('reads Bearer <token> from the authorization entry', () => {
      expect(read({}, build({ authorization: `Bearer ${TOKEN}` }))).toBe(TOKEN);
    });

    it('refuses a missing entry as missing and another scheme as missing', () => {
      expect(read({}, build(undefined))).toBe('ERR_JWT_MISSING');
      expect(read({}, build({ other: 'x' }))).toBe('ERR_JWT_MISSING');
      expect(read({}, build({ authorization: 'Basic dXNlcjpwYXNz' }))).toBe('ERR_JWT_MISSING');
    });

    it('refuses a repeated entry and a Bearer without one token as malformed', () => {
      expect(read({}, build({ authorization: [`Bearer ${TOKEN}`, 'Bearer other.to.ken'] }))).toBe('ERR_JWT_MALFORMED');
      expect(read({}, build({ authorization: 'Bearer a b' }))).toBe('ERR_JWT_MALFORMED');
    });

    if (PACKET.has(name)) {
      it("falls back to the payload's headers.authorization, and refuses two different tokens", () => {
        expect(read({ headers: { authorization: `Bearer ${TOKEN}` } }, build(undefined))).toBe(TOKEN);
        expect(read({ headers: { authorization: `Bearer ${TOKEN}` } }, build({ trace: '1' }))).toBe(TOKEN);
        expect(read({ headers: { authorization: `Bearer ${TOKEN}` } }, build({ authorization: `Bearer ${TOKEN}` }))).toBe(TOKEN);
        expect(read({ headers: { authorization: 'Bearer x.y.z' } }, build({ authorization: `Bearer ${TOKEN}` }))).toBe('ERR_JWT_MALFORMED');
      });
    } else {
      it('does not read the payload: this transport has metadata of its own', () => {
        expect(read({ headers: { authorization: `Bearer ${TOKEN}` } }, build(undefined))).toBe('ERR_JWT_MISSING');
      });
    }
  });

  it('matches names in any letter case, and refuses the same name twice in two cases', () => {
    const rmq = (headers: Record<string, unknown>) => new RmqContext([{ properties: { headers } }, {}, 'p']);
    expect(read({}, rmq({ Authorization: `Bearer ${TOKEN}` }))).toBe(TOKEN);
    expect(read({}, rmq({ authorization: `Bearer ${TOKEN}`, AUTHORIZATION: `Bearer ${TOKEN}` }))).toBe('ERR_JWT_MALFORMED');
    // NATS keeps keys as sent: the canonical MIME form is found too.
    expect(read({}, new NatsContext(['s', natsHeaders({ Authorization: [`Bearer ${TOKEN}`] })]))).toBe(TOKEN);
  });

  it('reads the payload headers of TCP and Redis in any letter case, and refuses two spellings naming two users', () => {
    const tcp = (metadata?: Record<string, string>) => new TcpContext([{} as never, 'p', metadata as never]);
    for (const ctx of [tcp(), new RedisContext(['c']), undefined]) {
      expect(read({ headers: { Authorization: `Bearer ${TOKEN}` } }, ctx)).toBe(TOKEN);
      expect(read({ headers: { authorization: `Bearer ${TOKEN}`, Authorization: 'Bearer x.y.z' } }, ctx)).toBe('ERR_JWT_MALFORMED');
      expect(read({ headers: { authorization: `Bearer ${TOKEN}`, AUTHORIZATION: `Bearer ${TOKEN}` } }, ctx)).toBe('ERR_JWT_MALFORMED');
    }
    if (!PACKET_METADATA) return;
    // The payload's second spelling is seen beside packet metadata too.
    expect(read({ headers: { Authorization: 'Bearer x.y.z' } }, tcp({ authorization: `Bearer ${TOKEN}` }))).toBe('ERR_JWT_MALFORMED');
    expect(read({ headers: { Authorization: `Bearer ${TOKEN}` } }, tcp({ authorization: `Bearer ${TOKEN}` }))).toBe(TOKEN);
  });

  it('refuses NATS headers carrying both spellings, and reads one spelling in any letter case', () => {
    const nats = (entries: Record<string, string[]>) => new NatsContext(['s', natsHeaders(entries)]);
    expect(read({}, nats({ authorization: [`Bearer ${TOKEN}`], Authorization: ['Bearer x.y.z'] }))).toBe('ERR_JWT_MALFORMED');
    expect(read({}, nats({ authorization: [`Bearer ${TOKEN}`], AUTHORIZATION: [`Bearer ${TOKEN}`] }))).toBe('ERR_JWT_MALFORMED');
    expect(read({}, nats({ AUTHORIZATION: [`Bearer ${TOKEN}`] }))).toBe(TOKEN);
    expect(read({}, nats({ 'X-Trace': ['1'], authorization: [`Bearer ${TOKEN}`] }))).toBe(TOKEN);
    // A header object without `keys()` (an older or look-alike `MsgHdrs`): both spellings still looked at.
    const valuesOnly = (entries: Record<string, string[]>) => new NatsContext(['s', { values: (k: string) => entries[k] ?? [], get: () => '' }]);
    expect(read({}, valuesOnly({ authorization: [`Bearer ${TOKEN}`], Authorization: ['Bearer x.y.z'] }))).toBe('ERR_JWT_MALFORMED');
    expect(read({}, valuesOnly({ Authorization: [`Bearer ${TOKEN}`] }))).toBe(TOKEN);
  });

  it('refuses metadata and payload headers with more entries than the cap as malformed, without reading their entries', () => {
    const cap = JWKS_DEFAULTS.maxMetadataEntries;
    const many = (n: number) => {
      const headers: Record<string, string> = {};
      for (let i = 0; i < n; i++) headers[`x-h${i}`] = 'v';
      return headers;
    };
    // At the cap, still read.
    expect(read({ headers: { ...many(cap - 1), authorization: `Bearer ${TOKEN}` } }, new TcpContext([{} as never, 'p']))).toBe(TOKEN);
    // Over the cap: refused from the key count alone, reading no entry (a per-entry scan would read them all).
    let reads = 0;
    const headers = new Proxy({ ...many(100_000), authorization: `Bearer ${TOKEN}` }, {
      get(target, key, receiver) {
        reads++;
        return Reflect.get(target, key, receiver) as unknown;
      },
    });
    expect(read({ headers }, new TcpContext([{} as never, 'p']))).toBe('ERR_JWT_MALFORMED');
    expect(reads).toBeLessThan(5);
    const entries = { ...many(cap), authorization: `Bearer ${TOKEN}` };
    expect(read({}, new RmqContext([{ properties: { headers: entries } }, {}, 'p']))).toBe('ERR_JWT_MALFORMED');
    if (PACKET_METADATA) expect(read({}, new TcpContext([{} as never, 'p', entries]))).toBe('ERR_JWT_MALFORMED');
    expect(read({}, new NatsContext(['s', natsHeaders(Object.fromEntries(Object.entries(entries).map(([k, v]) => [k, [v]])))]))).toBe('ERR_JWT_MALFORMED');
  });

  it('decodes byte values (Kafka, RabbitMQ, gRPC -bin) as UTF-8, bounded', () => {
    const kafka = (value: unknown) => new KafkaContext([{ headers: { authorization: value } } as never, 0, 't', {} as never, async () => undefined, {} as never]);
    expect(read({}, kafka(Buffer.from(`Bearer ${TOKEN}`)))).toBe(TOKEN);
    expect(read({}, kafka([Buffer.from(`Bearer ${TOKEN}`)]))).toBe(TOKEN);
    expect(read({}, kafka(Buffer.from([0x42, 0xff, 0xfe])))).toBe('ERR_JWT_MALFORMED');
    expect(read({}, kafka(Buffer.alloc(1_000_000, 0x61)))).toBe('ERR_JWT_MALFORMED');
  });

  it('refuses values that are not text, and metadata that is not a map, without throwing anything else', () => {
    const rmq = (headers: unknown) => new RmqContext([{ properties: { headers } }, {}, 'p']);
    for (const value of [5, true, { toString: () => `Bearer ${TOKEN}` }, [[`Bearer ${TOKEN}`]]]) expect(read({}, rmq({ authorization: value }))).toBe('ERR_JWT_MALFORMED');
    for (const headers of ['Bearer x', 7, null, [`Bearer ${TOKEN}`]]) expect(read({}, rmq(headers))).toBe('ERR_JWT_MISSING');
    expect(read({}, new RmqContext([null as never, {}, 'p']))).toBe('ERR_JWT_MISSING');
    expect(read({}, new MqttContext(['t', null as never]))).toBe('ERR_JWT_MISSING');
    expect(read({}, new KafkaContext([undefined as never, 0, 't', {} as never, async () => undefined, {} as never]))).toBe('ERR_JWT_MISSING');
  });

  it('turns a metadata object that throws when read into a malformed token, not a crash', () => {
    const hostile = new Proxy({}, { ownKeys: () => { throw new Error('boom'); } });
    expect(read({}, new RmqContext([{ properties: { headers: hostile } }, {}, 'p']))).toBe('ERR_JWT_MALFORMED');
    const throwingGrpc = { get: () => { throw new Error('boom'); }, getMap: () => ({}) };
    expect(read({}, throwingGrpc)).toBe('ERR_JWT_MALFORMED');
    const getter = { get headers() { throw new Error('boom'); } };
    expect(read(getter, new TcpContext([{} as never, 'p']))).toBe('ERR_JWT_MALFORMED');
  });

  it('reads only the payload of a context it does not know (a custom transport)', () => {
    expect(read({ headers: { authorization: `Bearer ${TOKEN}` } }, { custom: true })).toBe(TOKEN);
    expect(read({ headers: { authorization: `Bearer ${TOKEN}` } }, undefined)).toBe(TOKEN);
    expect(read('Bearer x', undefined)).toBe('ERR_JWT_MISSING');
  });

  describe('configured sources', () => {
    it("{ from: 'metadata', name, scheme: null } reads the whole value of that entry only", () => {
      const source = { from: 'metadata', name: 'x-token', scheme: null } as const;
      expect(read({}, new KafkaContext([{ headers: { 'X-Token': ` ${TOKEN} ` } } as never, 0, 't', {} as never, async () => undefined, {} as never]), source)).toBe(TOKEN);
      expect(read({}, new MqttContext(['t', { properties: { userProperties: { 'x-token': '' } } }]), source)).toBe('ERR_JWT_MISSING');
      expect(read({ 'x-token': TOKEN }, new TcpContext([{} as never, 'p']), source)).toBe('ERR_JWT_MISSING');
    });

    it("{ from: 'payload', path } reads own properties only, never through a prototype", () => {
      const source = { from: 'payload', path: ['auth', 'token'], scheme: null } as const;
      expect(read({ auth: { token: TOKEN } }, undefined, source)).toBe(TOKEN);
      expect(read({ auth: Object.create({ token: TOKEN }) }, undefined, source)).toBe('ERR_JWT_MISSING');
      expect(read(Object.create({ auth: { token: TOKEN } }), undefined, source)).toBe('ERR_JWT_MISSING');
      expect(read({ auth: 'token' }, undefined, source)).toBe('ERR_JWT_MISSING');
      expect(read({ auth: { token: 7 } }, undefined, source)).toBe('ERR_JWT_MALFORMED');
    });
  });
});
