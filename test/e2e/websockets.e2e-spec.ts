import { jest } from '@jest/globals';
import { Logger, UseGuards, type LoggerService } from '@nestjs/common';
import { SubscribeMessage, WebSocketGateway, type OnGatewayConnection, type OnGatewayInit } from '@nestjs/websockets';
import WebSocket from 'ws';
import type { Socket } from 'socket.io-client';
import { CurrentUser, JWKS_WS_CLOSE_CODES, JwksAuthGuard, JwksAuthModule, JwksWsHandshake, type JwksAuthModuleOptions } from '../../lib';
import { FakeClock, TestIssuer } from '../../lib/testing';
import { issuerOptions } from '../fixtures/app';
import { callSocketIo, callWs, ConnectRefused, connectSocketIo, outcomeOf, type WsReply } from '../fixtures/transports/ws.clients';
import { bootGatewayApp, grantsGateway, WS_LIBRARIES, type GatewayApp, type WsLibrary } from '../fixtures/transports/ws.gateway';
import { SocketIoDriver } from '../fixtures/transports/socket-io.driver';
import { WsDriver } from '../fixtures/transports/ws.driver';

const UNAUTHENTICATED = { status: 'error', message: 'Unauthorized', code: 'UNAUTHENTICATED' };
const FORBIDDEN = { status: 'error', message: 'Forbidden', code: 'FORBIDDEN' };

/** What a client presents, and how; each library maps it onto its own client options. */
interface Presented {
  /** The default way: socket.io `auth.token`, `ws` the Authorization header's bearer token. */
  token?: string;
  auth?: Record<string, unknown>;
  headers?: Record<string, string>;
  query?: Record<string, string>;
}

/** One open connection of either library, with its close reported (ws: code and reason). */
interface Conn {
  call(event: string, data?: unknown): Promise<WsReply>;
  close(): void;
}

async function open(library: WsLibrary, url: string, p: Presented = {}): Promise<Conn> {
  if (library === 'socket.io') {
    const auth = p.auth ?? (p.token === undefined ? undefined : { token: p.token });
    const socket: Socket = await connectSocketIo(url, { ...(auth && { auth }), ...(p.headers && { extraHeaders: p.headers }), ...(p.query && { query: p.query }) });
    return { call: (e, d) => callSocketIo(socket, e, d), close: () => socket.close() };
  }
  const headers = p.headers ?? (p.token === undefined ? {} : { authorization: `Bearer ${p.token}` });
  const ws = new WebSocket(p.query ? `${url}/?${new URLSearchParams(p.query)}` : url, { headers });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return { call: (e, d) => callWs(ws, e, d), close: () => ws.close() };
}

/** Opens, calls `event` once, closes. */
async function callOnce(library: WsLibrary, url: string, event: string, p: Presented = {}): Promise<WsReply> {
  const conn = await open(library, url, p);
  try {
    return await conn.call(event);
  } finally {
    conn.close();
  }
}

/** Records what Nest and this package would log at error level (the suite otherwise silences logs). */
function recordErrors(): { errors: unknown[]; restore: () => void } {
  const errors: unknown[] = [];
  const recorder: LoggerService = { log: () => undefined, warn: () => undefined, debug: () => undefined, error: (m: unknown) => errors.push(m) };
  Logger.overrideLogger(recorder);
  return { errors, restore: () => Logger.overrideLogger(false) };
}

describe.each(WS_LIBRARIES)('JwksAuthGuard on %s gateways', (library) => {
  let issuer: TestIssuer;
  beforeAll(async () => {
    issuer = await TestIssuer.start();
  });
  afterAll(async () => {
    await issuer.close();
  });

  const boot = (options: Partial<JwksAuthModuleOptions> = {}, gateway = grantsGateway(), clock?: FakeClock): Promise<GatewayApp> =>
    bootGatewayApp(library, { imports: [JwksAuthModule.forRoot(issuerOptions(issuer, options))], gateways: [gateway] }, { clock });

  describe('per message, with @UseGuards(JwksAuthGuard)', () => {
    let gw: GatewayApp;
    beforeAll(async () => {
      gw = await boot();
    });
    afterAll(async () => {
      await gw.app.close();
    });

    it('answers every message of a connection with a valid token, @CurrentUser() seeing its claims', async () => {
      const conn = await open(library, gw.url, { token: issuer.sign({ sub: 'alice' }) });
      try {
        for (let i = 0; i < 5; i++) expect(await conn.call('open')).toEqual({ event: 'result', data: { route: 'open', sub: 'alice' } });
      } finally {
        conn.close();
      }
    });

    it('refuses a message without a token with the exact UNAUTHENTICATED body, and logs no error', async () => {
      const log = recordErrors();
      try {
        expect(await callOnce(library, gw.url, 'open')).toEqual({ event: 'exception', data: UNAUTHENTICATED });
        expect(log.errors).toEqual([]);
      } finally {
        log.restore();
      }
    });

    it('refuses expired, wrongly signed, unknown-kid, wrong-audience and garbage tokens with UNAUTHENTICATED', async () => {
      const foreign = await TestIssuer.start();
      try {
        const now = Math.floor(Date.now() / 1000);
        const unpublished = issuer.addKey({ publish: false });
        const tokens = {
          expired: issuer.sign({ sub: 'alice', exp: now - 10 }),
          // The issuer's own kid, signed with another key.
          wrongSignature: foreign.sign({ sub: 'alice', iss: issuer.issuer, aud: issuer.audience }, { header: { kid: issuer.kid } }),
          unknownKid: issuer.sign({ sub: 'alice' }, { kid: unpublished }),
          wrongAudience: issuer.sign({ sub: 'alice', aud: 'https://another-api' }),
          garbage: 'a.b.c',
        };
        const seen = jest.spyOn(JwksAuthGuard.prototype, 'handleRequest');
        const codes: Record<string, unknown> = {};
        for (const [what, token] of Object.entries(tokens)) {
          expect([what, await callOnce(library, gw.url, 'open', { token })]).toEqual([what, { event: 'exception', data: UNAUTHENTICATED }]);
          codes[what] = (seen.mock.calls.at(-1)?.[0] as { code?: unknown } | null)?.code;
        }
        seen.mockRestore();
        // Each refused for its own reason, not all for one the test did not mean. The unknown kid:
        // JwksWsHandshake (attached with refuse: false) checks the token at connect too, and may
        // have spent the one refetch the cooldown allows before the guard's check.
        expect(codes).toEqual({
          expired: 'ERR_JWT_EXPIRED',
          wrongSignature: 'ERR_JWS_SIGNATURE_INVALID',
          unknownKid: expect.stringMatching(/^ERR_JWKS_(NO_MATCHING_KEY|COOLDOWN)$/),
          wrongAudience: 'ERR_JWT_AUDIENCE',
          garbage: 'ERR_JWT_MALFORMED',
        });
      } finally {
        await foreign.close();
      }
    });

    it('enforces @Scopes/@Permissions/@Roles (all and any, stacked) with FORBIDDEN, and lets @Public() through without a token', async () => {
      const granted = issuer.sign({ sub: 'bob', scope: 'orders:read orders:write', permissions: ['orders:read'], roles: ['clerk'] });
      expect(await callOnce(library, gw.url, 'scopesAll', { token: granted })).toEqual({ event: 'result', data: { route: 'scopesAll', sub: 'bob' } });
      expect(await callOnce(library, gw.url, 'permissionsAny', { token: granted })).toEqual({ event: 'result', data: { route: 'permissionsAny', sub: 'bob' } });
      expect(await callOnce(library, gw.url, 'rolesAny', { token: granted })).toEqual({ event: 'result', data: { route: 'rolesAny', sub: 'bob' } });
      for (const route of ['permissionsAll', 'rolesAll', 'stacked']) {
        expect([route, await callOnce(library, gw.url, route, { token: granted })]).toEqual([route, { event: 'exception', data: FORBIDDEN }]);
      }
      expect(outcomeOf(await callOnce(library, gw.url, 'public'))).toEqual({ kind: 'ok', sub: undefined });
    });

    it('survives a hostile client: thousands of refused messages, non-JSON frames, a huge token', async () => {
      const log = recordErrors();
      try {
        const conn = await open(library, gw.url);
        const n = 2000;
        let refused = 0;
        if (library === 'socket.io') {
          const socket = await connectSocketIo(gw.url);
          const all = new Promise<void>((resolve) => socket.on('exception', () => ++refused === n && resolve()));
          for (let i = 0; i < n; i++) socket.emit('open', { i });
          await all;
          socket.close();
        } else {
          const ws = new WebSocket(gw.url);
          await new Promise((r) => ws.once('open', r));
          const all = new Promise<void>((resolve) => ws.on('message', () => ++refused === n && resolve()));
          ws.send('not json');
          ws.send(Buffer.from([0xff, 0x00, 0x13]));
          ws.send(JSON.stringify({ event: { not: 'a string' }, data: 1 }));
          for (let i = 0; i < n; i++) ws.send(JSON.stringify({ event: 'open', data: { i } }));
          await all;
          ws.close();
        }
        expect(refused).toBe(n);
        conn.close();
        // A token far above any limit: refused, not parsed; Node caps a ws header at 16 KiB in all.
        const huge = 'e'.repeat(library === 'socket.io' ? 512 * 1024 : 14 * 1024);
        expect(await callOnce(library, gw.url, 'open', { token: huge })).toEqual({ event: 'exception', data: UNAUTHENTICATED });
        expect(await callOnce(library, gw.url, 'open', { token: issuer.sign({ sub: 'alice' }) })).toEqual({ event: 'result', data: { route: 'open', sub: 'alice' } });
        expect(log.errors).toEqual([]);
      } finally {
        log.restore();
      }
    });
  });

  it('refuses a token from its exp on, mid-connection (the verified-token cache does not outlive exp)', async () => {
    const clock = new FakeClock();
    const gw = await boot({}, grantsGateway(), clock);
    try {
      const token = issuer.sign({ sub: 'alice', iat: Math.floor(clock.now() / 1000), exp: Math.floor(clock.now() / 1000) + 60 });
      const conn = await open(library, gw.url, { token });
      try {
        expect(outcomeOf(await conn.call('open'))).toEqual({ kind: 'ok', sub: 'alice' });
        await clock.advance(30_000);
        expect(outcomeOf(await conn.call('open'))).toEqual({ kind: 'ok', sub: 'alice' });
        await clock.advance(31_000);
        expect(await conn.call('open')).toEqual({ event: 'exception', data: UNAUTHENTICATED });
      } finally {
        conn.close();
      }
    } finally {
      await gw.app.close();
    }
  });

  it('answers SERVICE_UNAVAILABLE with retryAfter when the IdP is down and no key set is held', async () => {
    const down = await TestIssuer.start();
    down.setFault({ status: 500 });
    const gw = await bootGatewayApp(library, { imports: [JwksAuthModule.forRoot(issuerOptions(down, { failOnWarmupError: false }))], gateways: [grantsGateway()] });
    try {
      const reply = await callOnce(library, gw.url, 'open', { token: down.sign({ sub: 'alice' }) });
      expect(reply.event).toBe('exception');
      const body = reply.data as { retryAfter?: unknown };
      expect(body).toEqual({ status: 'error', message: 'Service Unavailable', code: 'SERVICE_UNAVAILABLE', retryAfter: body.retryAfter });
      expect(Number.isInteger(body.retryAfter) && (body.retryAfter as number) >= 1).toBe(true);
      // Without a token it is still the client's fault: 401, not 503.
      expect(await callOnce(library, gw.url, 'open')).toEqual({ event: 'exception', data: UNAUTHENTICATED });
    } finally {
      await gw.app.close();
      await down.close();
    }
  });

  describe('with globalGuard and no @UseGuards', () => {
    it('protects every handler, honours @Public() and the grant decorators', async () => {
      const gw = await boot({ globalGuard: true }, grantsGateway({ guarded: false }));
      try {
        expect(await callOnce(library, gw.url, 'open')).toEqual({ event: 'exception', data: UNAUTHENTICATED });
        expect(outcomeOf(await callOnce(library, gw.url, 'open', { token: issuer.sign({ sub: 'carol' }) }))).toEqual({ kind: 'ok', sub: 'carol' });
        expect(await callOnce(library, gw.url, 'rolesAny', { token: issuer.sign({ sub: 'carol', roles: ['auditor'] }) })).toEqual({ event: 'exception', data: FORBIDDEN });
        expect(outcomeOf(await callOnce(library, gw.url, 'public'))).toEqual({ kind: 'ok', sub: undefined });
      } finally {
        await gw.app.close();
      }
    });

    it('leaves an unguarded gateway open without it (the control)', async () => {
      const gw = await boot({}, grantsGateway({ guarded: false }));
      try {
        expect(outcomeOf(await callOnce(library, gw.url, 'open'))).toEqual({ kind: 'ok', sub: undefined });
      } finally {
        await gw.app.close();
      }
    });
  });

  it.each([
    ['@UseGuards on the gateway', {}, true],
    ['globalGuard', { globalGuard: true }, false],
  ] as const)('Nest initialises the guard instance that checks messages (%s), so WsException is preloaded', async (_how, options, guarded) => {
    const init = jest.spyOn(JwksAuthGuard.prototype, 'onModuleInit');
    const check = jest.spyOn(JwksAuthGuard.prototype, 'canActivate');
    try {
      const gw = await boot(options, grantsGateway({ guarded }));
      try {
        const initialised = [...init.mock.contexts];
        expect(await callOnce(library, gw.url, 'open')).toEqual({ event: 'exception', data: UNAUTHENTICATED });
        expect(check.mock.contexts.length).toBeGreaterThan(0);
        for (const guard of check.mock.contexts) expect(initialised).toContain(guard);
      } finally {
        await gw.app.close();
      }
    } finally {
      init.mockRestore();
      check.mockRestore();
    }
  });
});

describe('websocket.token sources', () => {
  let issuer: TestIssuer;
  beforeAll(async () => {
    issuer = await TestIssuer.start();
  });
  afterAll(async () => {
    await issuer.close();
  });

  async function withGateway(library: WsLibrary, options: Partial<JwksAuthModuleOptions>, run: (url: string) => Promise<void>, handshake: 'record' | 'none' = 'record'): Promise<void> {
    const gw = await bootGatewayApp(library, { imports: [JwksAuthModule.forRoot(issuerOptions(issuer, options))], gateways: [grantsGateway({ handshake })] });
    try {
      await run(gw.url);
    } finally {
      await gw.app.close();
    }
  }
  const ok = (sub: string) => ({ event: 'result', data: { route: 'open', sub } });
  const refused = { event: 'exception', data: UNAUTHENTICATED };

  it('socket.io default: handshake auth.token raw or "Bearer <token>", else the Authorization header; never the query', async () => {
    const token = issuer.sign({ sub: 'dave' });
    await withGateway('socket.io', {}, async (url) => {
      expect(await callOnce('socket.io', url, 'open', { auth: { token } })).toEqual(ok('dave'));
      expect(await callOnce('socket.io', url, 'open', { auth: { token: `Bearer ${token}` } })).toEqual(ok('dave'));
      expect(await callOnce('socket.io', url, 'open', { headers: { authorization: `Bearer ${token}` } })).toEqual(ok('dave'));
      expect(await callOnce('socket.io', url, 'open', { query: { token }, auth: {} })).toEqual(refused);
      expect(await callOnce('socket.io', url, 'open', { query: { access_token: token } })).toEqual(refused);
    });
  });

  it('socket.io: non-string auth fields and a repeated Authorization header are refused, never a crash', async () => {
    const token = issuer.sign({ sub: 'dave' });
    await withGateway('socket.io', {}, async (url) => {
      for (const bad of [123, true, { token }, [token], 'Bearer', `Bearer ${token} extra`]) {
        expect([bad, await callOnce('socket.io', url, 'open', { auth: { token: bad } })]).toEqual([bad, refused]);
      }
      // A present but malformed auth.token is not silently replaced by the header.
      expect(await callOnce('socket.io', url, 'open', { auth: { token: 42 }, headers: { authorization: `Bearer ${token}` } })).toEqual(refused);
      expect(await callOnce('socket.io', url, 'open', { auth: { token: 'x'.repeat(40 * 1024) } })).toEqual(refused);
    });
  });

  it.each(WS_LIBRARIES)('%s: { from: "query" } reads the handshake URL only when configured', async (library) => {
    const token = issuer.sign({ sub: 'erin' });
    await withGateway(library, { websocket: { token: { from: 'query', name: 'access_token' } } }, async (url) => {
      expect(await callOnce(library, url, 'open', { query: { access_token: token } })).toEqual(ok('erin'));
      expect(await callOnce(library, url, 'open', { token })).toEqual(refused);
    });
  });

  it.each(WS_LIBRARIES)('%s: { from: "header", name: "x-api-token" } reads that header (whole value)', async (library) => {
    const token = issuer.sign({ sub: 'fay' });
    await withGateway(library, { websocket: { token: { from: 'header', name: 'X-Api-Token' } } }, async (url) => {
      expect(await callOnce(library, url, 'open', { headers: { 'x-api-token': token } })).toEqual(ok('fay'));
      expect(await callOnce(library, url, 'open', { headers: { authorization: `Bearer ${token}` } })).toEqual(refused);
    });
  });

  it('{ from: "auth", name } reads that socket.io auth field; a ws client has no handshake auth', async () => {
    const token = issuer.sign({ sub: 'gil' });
    await withGateway('socket.io', { websocket: { token: { from: 'auth', name: 'jwt' } } }, async (url) => {
      expect(await callOnce('socket.io', url, 'open', { auth: { jwt: token } })).toEqual(ok('gil'));
      expect(await callOnce('socket.io', url, 'open', { auth: { token } })).toEqual(refused);
    });
    await withGateway('ws', { websocket: { token: { from: 'auth' } } }, async (url) => {
      expect(await callOnce('ws', url, 'open', { token })).toEqual(refused);
    });
  });

  it.each(WS_LIBRARIES)('%s: a function source gets the client; one that throws is a refusal, not a crash', async (library) => {
    const token = issuer.sign({ sub: 'hal' });
    const fromClient = (client: { handshake?: { auth?: { custom?: string } } }) => client.handshake?.auth?.custom ?? (library === 'ws' ? token : null);
    await withGateway(library, { websocket: { token: fromClient } }, async (url) => {
      expect(await callOnce(library, url, 'open', { auth: { custom: token } })).toEqual(ok('hal'));
    });
    await withGateway(library, { websocket: { token: () => { throw new Error('app bug'); } } }, async (url) => {
      expect(await callOnce(library, url, 'open', { token })).toEqual(refused);
    });
  });

  it('ws: without JwksWsHandshake.attach() no upgrade request is known, so a guarded message is refused (fail closed)', async () => {
    const token = issuer.sign({ sub: 'ivy' });
    await withGateway('ws', {}, async (url) => {
      expect(await callOnce('ws', url, 'open', { token })).toEqual(refused);
    }, 'none');
  });
});

/** A gateway refusing at connect; `handleConnection` reports the handshake's claims. */
@WebSocketGateway()
@UseGuards(JwksAuthGuard)
class HandshakeGateway implements OnGatewayInit, OnGatewayConnection {
  static connected: unknown[] = [];
  constructor(private readonly handshake: JwksWsHandshake) {}
  afterInit(server: unknown): void {
    this.handshake.attach(server);
  }
  handleConnection(client: { user?: { sub?: unknown } }): void {
    HandshakeGateway.connected.push(client.user?.sub);
  }
  @SubscribeMessage('open')
  open(@CurrentUser('sub') sub: unknown): { event: string; data: unknown } {
    return { event: 'result', data: { route: 'open', sub } };
  }
}

describe('JwksWsHandshake: refusal at connect', () => {
  let issuer: TestIssuer;
  beforeAll(async () => {
    issuer = await TestIssuer.start();
  });
  afterAll(async () => {
    await issuer.close();
  });
  beforeEach(() => {
    HandshakeGateway.connected = [];
  });

  /** A ws connection's end: opened or not, and its close code and reason. */
  function wsEnd(url: string, headers: Record<string, string> = {}): Promise<{ opened: boolean; code: number; reason: string }> {
    const ws = new WebSocket(url, { headers });
    let opened = false;
    ws.once('open', () => (opened = true));
    return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ opened, code, reason: reason.toString() })));
  }

  it('socket.io: refuses without a valid token at connect_error with data.code, and hands the claims to handleConnection', async () => {
    const gw = await bootGatewayApp('socket.io', { imports: [JwksAuthModule.forRoot(issuerOptions(issuer))], gateways: [HandshakeGateway] });
    try {
      for (const auth of [undefined, { token: 'a.b.c' }, { token: issuer.sign({ sub: 'x', exp: Math.floor(Date.now() / 1000) - 5 }) }]) {
        const err = await connectSocketIo(gw.url, auth ? { auth } : {}).then(
          (s) => (s.close(), null),
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(ConnectRefused);
        expect(err).toMatchObject({ message: 'Unauthorized', data: UNAUTHENTICATED });
      }
      expect(HandshakeGateway.connected).toEqual([]);
      const socket = await connectSocketIo(gw.url, { auth: { token: issuer.sign({ sub: 'jan' }) } });
      try {
        expect(await callSocketIo(socket, 'open')).toEqual({ event: 'result', data: { route: 'open', sub: 'jan' } });
        expect(HandshakeGateway.connected).toEqual(['jan']);
      } finally {
        socket.close();
      }
    } finally {
      await gw.app.close();
    }
  });

  it('ws: closes a connection without a valid token with 4401 "Unauthorized", keeps a valid one open', async () => {
    const gw = await bootGatewayApp('ws', { imports: [JwksAuthModule.forRoot(issuerOptions(issuer))], gateways: [HandshakeGateway] });
    try {
      expect(await wsEnd(gw.url)).toEqual({ opened: true, code: JWKS_WS_CLOSE_CODES.unauthorized, reason: 'Unauthorized' });
      expect(JWKS_WS_CLOSE_CODES.unauthorized).toBe(4401);
      expect(await wsEnd(gw.url, { authorization: 'Bearer a.b.c' })).toMatchObject({ code: 4401 });
      const conn = await open('ws', gw.url, { token: issuer.sign({ sub: 'kim' }) });
      try {
        expect(await conn.call('open')).toEqual({ event: 'result', data: { route: 'open', sub: 'kim' } });
        expect(HandshakeGateway.connected).toContain('kim');
      } finally {
        conn.close();
      }
    } finally {
      await gw.app.close();
    }
  });

  it.each(WS_LIBRARIES)('%s: when the IdP is down and no key set is held, refuses at connect as unavailable (socket.io data.retryAfter, ws 1013)', async (library) => {
    const down = await TestIssuer.start();
    down.setFault({ status: 500 });
    const gw = await bootGatewayApp(library, { imports: [JwksAuthModule.forRoot(issuerOptions(down, { failOnWarmupError: false }))], gateways: [HandshakeGateway] });
    try {
      const token = down.sign({ sub: 'lee' });
      if (library === 'socket.io') {
        const err = (await connectSocketIo(gw.url, { auth: { token } }).then(
          (s) => (s.close(), null),
          (e: unknown) => e,
        )) as ConnectRefused;
        expect(err).toBeInstanceOf(ConnectRefused);
        expect(err.message).toBe('Service Unavailable');
        expect(err.data).toMatchObject({ status: 'error', message: 'Service Unavailable', code: 'SERVICE_UNAVAILABLE' });
        expect((err.data as { retryAfter: number }).retryAfter).toBeGreaterThanOrEqual(1);
      } else {
        expect(await wsEnd(gw.url, { authorization: `Bearer ${token}` })).toEqual({ opened: true, code: 1013, reason: 'Service Unavailable' });
      }
    } finally {
      await gw.app.close();
      await down.close();
    }
  });
});

describe.each([
  ['socket.io', (o: { guarded?: boolean }) => new SocketIoDriver(o)],
  ['ws', (o: { guarded?: boolean }) => new WsDriver(o)],
] as const)('%s TransportDriver', (_name, make) => {
  it('calls grant routes the default way and reports outcomes in transport-neutral terms', async () => {
    const issuer = await TestIssuer.start();
    const driver = make({});
    await driver.start([JwksAuthModule.forRoot(issuerOptions(issuer))]);
    try {
      expect(await driver.call('open', issuer.sign({ sub: 'mo' }))).toEqual({ kind: 'ok', sub: 'mo' });
      expect(await driver.call('open', undefined)).toEqual({ kind: 'unauthenticated' });
      expect(await driver.call('scopesAny', issuer.sign({ sub: 'mo', scope: 'orders:admin' }))).toEqual({ kind: 'ok', sub: 'mo' });
      expect(await driver.call('scopesAll', issuer.sign({ sub: 'mo', scope: 'orders:read' }))).toEqual({ kind: 'forbidden' });
      expect(await driver.call('public', undefined)).toEqual({ kind: 'ok', sub: undefined });
    } finally {
      await driver.close();
      await issuer.close();
    }
  });
});
