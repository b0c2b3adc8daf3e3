/**
 * Attacks on the WebSocket transport (socket.io and `ws` gateways, JwksWsHandshake), and what a new
 * user found: each test states the behaviour the module has.
 */
import { connect, type Socket as NetSocket } from 'node:net';
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { SubscribeMessage, WebSocketGateway, type OnGatewayConnection, type OnGatewayInit } from '@nestjs/websockets';
import { CurrentUser, JwksArgumentError, JwksAuthModule, JwksWsHandshake, JWKS_WS_CLOSE_CODES } from '../../lib';
import { FakeClock, TestIssuer } from '../../lib/testing';
import { issuerOptions } from '../fixtures/app';
import { callSocketIo, callWs, ConnectRefused, connectSocketIo, connectWs, outcomeOf } from '../fixtures/transports/ws.clients';
import { bootGatewayApp, grantsGateway, WS_LIBRARIES, type GatewayApp } from '../fixtures/transports/ws.gateway';

/** A masked client text frame (RFC 6455 §5.2), payload < 64 KiB. */
function frame(text: string): Buffer {
  const payload = Buffer.from(text);
  const mask = randomBytes(4);
  const len = payload.length;
  const header = len < 126 ? Buffer.from([0x81, 0x80 | len]) : Buffer.from([0x81, 0x80 | 126, len >> 8, len & 0xff]);
  const masked = Buffer.alloc(len);
  for (let i = 0; i < len; i++) masked[i] = payload[i] ^ mask[i % 4];
  return Buffer.concat([header, mask, masked]);
}

/** Server frames (unmasked) in `buf`: text payloads and close codes. */
function parseFrames(buf: Buffer): { texts: string[]; closes: number[] } {
  const texts: string[] = [];
  const closes: number[] = [];
  let i = 0;
  while (i + 2 <= buf.length) {
    const op = buf[i] & 0x0f;
    let len = buf[i + 1] & 0x7f;
    let off = i + 2;
    if (len === 126) {
      len = buf.readUInt16BE(off);
      off += 2;
    } else if (len === 127) break;
    if (off + len > buf.length) break;
    const payload = buf.subarray(off, off + len);
    if (op === 1) texts.push(payload.toString());
    if (op === 8) closes.push(payload.length >= 2 ? payload.readUInt16BE(0) : 1005);
    i = off + len;
  }
  return { texts, closes };
}

/**
 * A raw WebSocket client that never answers the server's close frame and keeps sending messages
 * (as any attacker's client may): what does a refused connection still get to run?
 */
async function rawClientIgnoringClose(url: string, message: string, durationMs: number, everyMs: number): Promise<{ texts: string[]; closes: number[] }> {
  const { hostname, port } = new URL(url);
  const socket: NetSocket = connect(Number(port), hostname);
  const chunks: Buffer[] = [];
  let upgraded = false;
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.write(
        `GET / HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    let head = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => {
      if (upgraded) return void chunks.push(d);
      head = Buffer.concat([head, d]);
      const end = head.indexOf('\r\n\r\n');
      if (end >= 0) {
        upgraded = true;
        chunks.push(head.subarray(end + 4));
        resolve();
      }
    });
  });
  const started = Date.now();
  while (Date.now() - started < durationMs && !socket.destroyed) {
    socket.write(frame(message));
    await new Promise((r) => setTimeout(r, everyMs));
  }
  socket.destroy();
  return parseFrames(Buffer.concat(chunks));
}

/**
 * An unguarded gateway (as a user relying on the handshake alone writes it) that records what
 * `handleConnection` saw and every handler call.
 */
function reportingGateway(attachOptions: unknown): { gateway: new (...args: never[]) => unknown; connected: unknown[]; calls: unknown[] } {
  const connected: unknown[] = [];
  const calls: unknown[] = [];
  @WebSocketGateway()
  class ReportingGateway implements OnGatewayInit, OnGatewayConnection {
    constructor(private readonly handshake: JwksWsHandshake) {}
    afterInit(server: unknown): void {
      this.handshake.attach(server, attachOptions as never);
    }
    handleConnection(client: { user?: { sub?: unknown } }): void {
      connected.push(client.user?.sub);
    }
    @SubscribeMessage('open')
    open(@CurrentUser('sub') sub: unknown): { event: string; data: unknown } {
      calls.push(sub);
      return { event: 'result', data: { route: 'open', sub } };
    }
  }
  return { gateway: ReportingGateway, connected, calls };
}

describe('attack: WebSocket transport', () => {
  let issuer: TestIssuer;
  beforeAll(async () => {
    issuer = await TestIssuer.start();
  });
  afterAll(async () => {
    await issuer.close();
  });

  describe('ws: a connection JwksWsHandshake refused at connect (4401)', () => {
    let gw: GatewayApp;
    beforeAll(async () => {
      // A gateway that relies on the handshake alone ("refuses clients without a valid token at connect").
      gw = await bootGatewayApp('ws', { imports: [JwksAuthModule.forRoot(issuerOptions(issuer))], gateways: [grantsGateway({ guarded: false, handshake: 'refuse' })] });
    });
    afterAll(async () => {
      await gw.app.close();
    });

    it('sends no handler reply to a refused client for messages it sends at once on open', async () => {
      const ws = new WebSocket(gw.url);
      const replies: string[] = [];
      ws.on('message', (d) => replies.push(d.toString()));
      const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
      ws.once('open', () => {
        for (let i = 0; i < 5; i++) ws.send(JSON.stringify({ event: 'open', data: {} }));
      });
      expect(await closed).toBe(4401);
      expect(replies.filter((r) => r.includes('"result"'))).toEqual([]);
    });

    it('sends no handler reply to a refused client that ignores the close frame and keeps sending', async () => {
      const { texts, closes } = await rawClientIgnoringClose(gw.url, JSON.stringify({ event: 'open', data: {} }), 1_500, 50);
      expect(closes).toContain(4401);
      expect(texts.filter((t) => t.includes('"result"'))).toEqual([]);
    });

    it('(control) the raw client does reach handlers on a gateway that does not refuse at connect', async () => {
      const open = await bootGatewayApp('ws', { imports: [JwksAuthModule.forRoot(issuerOptions(issuer))], gateways: [grantsGateway({ guarded: false, handshake: 'record' })] });
      try {
        const { texts } = await rawClientIgnoringClose(open.url, JSON.stringify({ event: 'open', data: {} }), 300, 50);
        expect(texts.filter((t) => t.includes('"result"')).length).toBeGreaterThan(0);
      } finally {
        await open.app.close();
      }
    });
  });

  describe('socket.io: auth.token and an Authorization header on one connection', () => {
    let gw: GatewayApp;
    let refusing: GatewayApp;
    beforeAll(async () => {
      gw = await bootGatewayApp('socket.io', { imports: [JwksAuthModule.forRoot(issuerOptions(issuer))], gateways: [grantsGateway()] });
      refusing = await bootGatewayApp('socket.io', { imports: [JwksAuthModule.forRoot(issuerOptions(issuer))], gateways: [grantsGateway({ handshake: 'refuse' })] });
    });
    afterAll(async () => {
      await gw.app.close();
      await refusing.app.close();
    });

    /** The guard's answer to `open` (handshake not refusing), and JwksWsHandshake's at connect. */
    async function outcomes(auth: Record<string, unknown>, authorization: string | string[]): Promise<{ guard: unknown; handshake: unknown }> {
      const extraHeaders = { authorization } as unknown as Record<string, string>;
      const socket = await connectSocketIo(gw.url, { auth, extraHeaders });
      let guard: unknown;
      try {
        guard = outcomeOf(await callSocketIo(socket, 'open'));
      } finally {
        socket.close();
      }
      const handshake = await connectSocketIo(refusing.url, { auth, extraHeaders }).then(
        async (s) => {
          try {
            return outcomeOf(await callSocketIo(s, 'open'));
          } finally {
            s.close();
          }
        },
        (err: unknown) => (err instanceof ConnectRefused ? { refusedAtConnect: err.data } : err),
      );
      return { guard, handshake };
    }
    const refusedBoth = { guard: { kind: 'unauthenticated' }, handshake: { refusedAtConnect: { status: 'error', message: 'Unauthorized', code: 'UNAUTHENTICATED' } } };

    it('refuses auth.token and an Authorization header naming two different users (as TCP refuses two different tokens)', async () => {
      expect(await outcomes({ token: issuer.sign({ sub: 'alice' }) }, `Bearer ${issuer.sign({ sub: 'mallory' })}`)).toEqual(refusedBoth);
    });

    it('refuses auth.token when the Authorization header is a malformed bearer (HTTP refuses it)', async () => {
      expect(await outcomes({ token: issuer.sign({ sub: 'alice' }) }, 'Bearer a b c')).toEqual(refusedBoth);
      expect(await outcomes({ token: issuer.sign({ sub: 'alice' }) }, 'Bearer')).toEqual(refusedBoth);
    });

    it('refuses auth.token when the Authorization header is repeated', async () => {
      const token = issuer.sign({ sub: 'alice' });
      expect(await outcomes({ token }, [`Bearer ${token}`, `Bearer ${token}`])).toEqual(refusedBoth);
    });

    it('accepts auth.token and an Authorization header carrying the same token (raw or Bearer in auth)', async () => {
      const token = issuer.sign({ sub: 'alice' });
      const alice = { guard: { kind: 'ok', sub: 'alice' }, handshake: { kind: 'ok', sub: 'alice' } };
      expect(await outcomes({ token }, `Bearer ${token}`)).toEqual(alice);
      expect(await outcomes({ token: `Bearer ${token}` }, `bearer  ${token}`)).toEqual(alice);
    });

    it('accepts auth.token beside an Authorization header of another scheme (it names no bearer token)', async () => {
      expect(await outcomes({ token: issuer.sign({ sub: 'alice' }) }, 'Basic YWxpY2U6cHc=')).toEqual({ guard: { kind: 'ok', sub: 'alice' }, handshake: { kind: 'ok', sub: 'alice' } });
    });
  });

  describe('stale user on a long-lived socket', () => {
    it.each(['socket.io', 'ws'] as const)('%s: a @Public() handler does not see an expired user after the guard refused it', async (library) => {
      const clock = new FakeClock();
      const gw = await bootGatewayApp(library, { imports: [JwksAuthModule.forRoot(issuerOptions(issuer))], gateways: [grantsGateway({ handshake: 'refuse' })] }, { clock });
      try {
        const now = Math.floor(clock.now() / 1000);
        const token = issuer.sign({ sub: 'alice', iat: now, exp: now + 60 });
        const call = async (event: string) => {
          if (library === 'socket.io') return outcomeOf(await callSocketIo(socket!, event));
          const reply = new Promise<string>((r) => ws!.once('message', (d) => r(d.toString())));
          ws!.send(JSON.stringify({ event, data: {} }));
          return outcomeOf(JSON.parse(await reply));
        };
        let socket: Awaited<ReturnType<typeof connectSocketIo>> | undefined;
        let ws: WebSocket | undefined;
        if (library === 'socket.io') socket = await connectSocketIo(gw.url, { auth: { token } });
        else {
          ws = new WebSocket(gw.url, { headers: { authorization: `Bearer ${token}` } });
          await new Promise((r) => ws!.once('open', r));
        }
        try {
          expect(await call('open')).toEqual({ kind: 'ok', sub: 'alice' });
          await clock.advance(120_000);
          expect(await call('open')).toEqual({ kind: 'unauthenticated' });
          // The token is expired and was just refused: the public handler must not act as alice.
          expect(await call('public')).toEqual({ kind: 'ok', sub: undefined });
        } finally {
          socket?.close();
          ws?.close();
        }
      } finally {
        await gw.app.close();
      }
    });
    it.each(WS_LIBRARIES)('%s: a 403 (a grant missing, the token valid) leaves the user for @Public() handlers', async (library) => {
      const gw = await bootGatewayApp(library, { imports: [JwksAuthModule.forRoot(issuerOptions(issuer))], gateways: [grantsGateway()] });
      try {
        const token = issuer.sign({ sub: 'alice' });
        if (library === 'socket.io') {
          const socket = await connectSocketIo(gw.url, { auth: { token } });
          try {
            expect(outcomeOf(await callSocketIo(socket, 'scopesAll'))).toEqual({ kind: 'forbidden' });
            expect(outcomeOf(await callSocketIo(socket, 'public'))).toEqual({ kind: 'ok', sub: 'alice' });
          } finally {
            socket.close();
          }
        } else {
          const ws = await connectWs(gw.url, { headers: { authorization: `Bearer ${token}` } });
          try {
            expect(outcomeOf(await callWs(ws, 'open'))).toEqual({ kind: 'ok', sub: 'alice' });
            expect(outcomeOf(await callWs(ws, 'scopesAll'))).toEqual({ kind: 'forbidden' });
            expect(outcomeOf(await callWs(ws, 'public'))).toEqual({ kind: 'ok', sub: 'alice' });
          } finally {
            ws.close();
          }
        }
      } finally {
        await gw.app.close();
      }
    });

    it('socket.io with userProperty "account": the handshake\'s user is taken back too once the guard refuses', async () => {
      const clock = new FakeClock();
      const gw = await bootGatewayApp('socket.io', { imports: [JwksAuthModule.forRoot(issuerOptions(issuer, { userProperty: 'account' }))], gateways: [grantsGateway({ handshake: 'refuse' })] }, { clock });
      try {
        const now = Math.floor(clock.now() / 1000);
        const socket = await connectSocketIo(gw.url, { auth: { token: issuer.sign({ sub: 'alice', iat: now, exp: now + 60 }) } });
        try {
          // Only the handshake has written the user so far.
          expect(outcomeOf(await callSocketIo(socket, 'public'))).toEqual({ kind: 'ok', sub: 'alice' });
          await clock.advance(120_000);
          expect(outcomeOf(await callSocketIo(socket, 'open'))).toEqual({ kind: 'unauthenticated' });
          expect(outcomeOf(await callSocketIo(socket, 'public'))).toEqual({ kind: 'ok', sub: undefined });
        } finally {
          socket.close();
        }
      } finally {
        await gw.app.close();
      }
    });
  });

  describe("attach(server, { refuse: false }): nobody refused, a valid token's user still on the client", () => {
    it.each(WS_LIBRARIES)('%s: handleConnection sees the user of a valid token, none for an absent or invalid one, and nobody is refused', async (library) => {
      const { gateway, connected, calls } = reportingGateway({ refuse: false });
      const gw = await bootGatewayApp(library, { imports: [JwksAuthModule.forRoot(issuerOptions(issuer))], gateways: [gateway] });
      try {
        const valid = issuer.sign({ sub: 'alice' });
        for (const token of [valid, undefined, 'a.b.c']) {
          if (library === 'socket.io') {
            const socket = await connectSocketIo(gw.url, token === undefined ? {} : { auth: { token } });
            try {
              expect(outcomeOf(await callSocketIo(socket, 'open'))).toEqual({ kind: 'ok', sub: token === valid ? 'alice' : undefined });
            } finally {
              socket.close();
            }
          } else {
            const ws = await connectWs(gw.url, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
            try {
              expect(outcomeOf(await callWs(ws, 'open'))).toEqual({ kind: 'ok', sub: token === valid ? 'alice' : undefined });
            } finally {
              ws.close();
            }
          }
        }
        expect(connected).toEqual(['alice', undefined, undefined]);
        expect(calls).toEqual(['alice', undefined, undefined]);
      } finally {
        await gw.app.close();
      }
    });

    it.each([[{ refuse: 'false' }], [{ refused: false }], [{ refuse: 0 }], ['no'], [null], [[]]])('attach() refuses the options %p with JwksArgumentError', async (options) => {
      const gw = await bootGatewayApp('socket.io', { imports: [JwksAuthModule.forRoot(issuerOptions(issuer))], gateways: [grantsGateway({ handshake: 'none' })] });
      try {
        const handshake = gw.app.get(JwksWsHandshake);
        const server = { use: () => undefined };
        expect(() => handshake.attach(server, options as never)).toThrow(JwksArgumentError);
        expect(() => handshake.attach(server, options as never)).toThrow(/JwksWsHandshake\.attach\(\) options/);
        expect(() => handshake.attach(server, { refuse: false })).not.toThrow();
        expect(() => handshake.attach(server)).not.toThrow();
      } finally {
        await gw.app.close();
      }
    });
  });

  describe('ws: what a refused connection still does (documented)', () => {
    it('the client sees open, then 4401; handleConnection runs with no user; no reply reaches the client', async () => {
      const { gateway, connected } = reportingGateway(undefined);
      const gw = await bootGatewayApp('ws', { imports: [JwksAuthModule.forRoot(issuerOptions(issuer))], gateways: [gateway] });
      try {
        const ws = new WebSocket(gw.url);
        const events: unknown[] = [];
        ws.on('open', () => events.push('open'));
        ws.on('message', (d) => events.push(d.toString()));
        const closed = new Promise<void>((r) => ws.once('close', (code, reason) => (events.push([code, reason.toString()]), r())));
        await closed;
        expect(events).toEqual(['open', [JWKS_WS_CLOSE_CODES.unauthorized, 'Unauthorized']]);
        expect(connected).toEqual([undefined]);
        expect(JWKS_WS_CLOSE_CODES).toEqual({ unauthorized: 4401, unavailable: 1013 });
      } finally {
        await gw.app.close();
      }
    });

    it('an unguarded handler still runs (with no user) for messages a refused client sent before it read the close; its reply is dropped', async () => {
      const { gateway, connected, calls } = reportingGateway(undefined);
      const gw = await bootGatewayApp('ws', { imports: [JwksAuthModule.forRoot(issuerOptions(issuer))], gateways: [gateway] });
      try {
        const ws = new WebSocket(gw.url);
        const replies: string[] = [];
        ws.on('message', (d) => replies.push(d.toString()));
        ws.once('open', () => {
          for (let i = 0; i < 3; i++) ws.send(JSON.stringify({ event: 'open', data: {} }));
        });
        await new Promise((r) => ws.once('close', r));
        expect(connected).toEqual([undefined]);
        expect(calls).toEqual([undefined, undefined, undefined]);
        expect(replies).toEqual([]);
      } finally {
        await gw.app.close();
      }
    });
  });
});
