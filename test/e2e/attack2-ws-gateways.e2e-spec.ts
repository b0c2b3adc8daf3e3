/**
 * Attack 2: globalGuard on gateways (guardGateways + CHECKED_GATEWAY_CALLS dedupe), native `ws`
 * refusals sent once, stale users on refusal.
 */
import { Injectable, UnauthorizedException, UseGuards, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import WebSocket from 'ws';
import { CurrentUser, JwksAuthGuard, JwksAuthModule, JwksWsHandshake } from '../../lib';
import { TestIssuer } from '../../lib/testing';
import { issuerOptions } from '../fixtures/app';
import { bootGatewayApp, grantsGateway } from '../fixtures/transports/ws.gateway';
import { callSocketIo, callWs, connectSocketIo, connectWs, outcomeOf } from '../fixtures/transports/ws.clients';

/** A subclass the app uses for admin-only handlers: Passport's documented `handleRequest` override. */
@Injectable()
class AdminOnlyGuard extends JwksAuthGuard {
  override handleRequest<TUser = unknown>(err: unknown, user: unknown, info?: unknown, ctx?: ExecutionContext): TUser {
    const u = super.handleRequest<{ role?: string }>(err, user, info, ctx);
    if (u.role !== 'admin') throw new UnauthorizedException();
    return u as TUser;
  }
}

function adminGateway() {
  @WebSocketGateway()
  @UseGuards(AdminOnlyGuard)
  class AdminGateway {
    constructor(private readonly jwksHandshake: JwksWsHandshake) {}
    afterInit(server: unknown): void {
      this.jwksHandshake.attach(server, { refuse: false });
    }
    @SubscribeMessage('open')
    open(@CurrentUser('sub') sub: unknown) {
      return { event: 'result', data: { route: 'open', sub } };
    }
  }
  return AdminGateway;
}

/** Collects every message a `ws` client receives for `ms`. */
function collect(ws: WebSocket, ms: number): Promise<unknown[]> {
  const got: unknown[] = [];
  const on = (raw: WebSocket.RawData) => got.push(JSON.parse(raw.toString()));
  ws.on('message', on);
  return new Promise((resolve) =>
    setTimeout(() => {
      ws.off('message', on);
      resolve(got);
    }, ms),
  );
}

describe('attack2: gateways under globalGuard', () => {
  let issuer: TestIssuer;
  let issuer2: TestIssuer;
  beforeAll(async () => {
    issuer = await TestIssuer.start();
    issuer2 = await TestIssuer.start();
  });
  afterAll(async () => {
    await issuer.close();
    await issuer2.close();
  });

  it.each(['socket.io', 'ws'] as const)('a JwksAuthGuard subclass on a gateway still refuses a non-admin with globalGuard on (%s)', async (lib) => {
    const gw = await bootGatewayApp(lib, { imports: [JwksAuthModule.forRoot(issuerOptions(issuer, { globalGuard: true }))], gateways: [adminGateway()], providers: [AdminOnlyGuard] });
    try {
      const token = issuer.sign({ sub: 'mallory', role: 'user' });
      if (lib === 'socket.io') {
        const socket = await connectSocketIo(gw.url, { auth: { token } });
        try {
          expect(outcomeOf(await callSocketIo(socket, 'open'))).toEqual({ kind: 'unauthenticated' });
        } finally {
          socket.close();
        }
      } else {
        const ws = await connectWs(gw.url, { headers: { authorization: `Bearer ${token}` } });
        try {
          expect(outcomeOf(await callWs(ws, 'open'))).toEqual({ kind: 'unauthenticated' });
        } finally {
          ws.close();
        }
      }
    } finally {
      await gw.app.close();
    }
  });

  it('control: the same subclass without globalGuard refuses the non-admin', async () => {
    const gw = await bootGatewayApp('socket.io', { imports: [JwksAuthModule.forRoot(issuerOptions(issuer))], gateways: [adminGateway()], providers: [AdminOnlyGuard] });
    try {
      const socket = await connectSocketIo(gw.url, { auth: { token: issuer.sign({ sub: 'mallory', role: 'user' }) } });
      try {
        expect(outcomeOf(await callSocketIo(socket, 'open'))).toEqual({ kind: 'unauthenticated' });
      } finally {
        socket.close();
      }
    } finally {
      await gw.app.close();
    }
  });

  it('a gateway class reused by a second app (no globalGuard) is not guarded by the first, closed app', async () => {
    const gateway = grantsGateway({ guarded: false });
    const first = await bootGatewayApp('socket.io', { imports: [JwksAuthModule.forRoot(issuerOptions(issuer, { globalGuard: true }))], gateways: [gateway] });
    await first.app.close();
    const second = await bootGatewayApp('socket.io', { imports: [JwksAuthModule.forRoot(issuerOptions(issuer2))], gateways: [gateway] });
    try {
      const socket = await connectSocketIo(second.url);
      try {
        // The second app protects nothing on this gateway: an anonymous call is served.
        expect(outcomeOf(await callSocketIo(socket, 'open'))).toEqual({ kind: 'ok', sub: undefined });
      } finally {
        socket.close();
      }
      expect((Reflect.getMetadata('__guards__', gateway) as unknown[] | undefined) ?? []).toHaveLength(0);
    } finally {
      await second.app.close();
    }
  });

  it('a gateway class reused by a second app with globalGuard on another issuer accepts that issuer', async () => {
    const gateway = grantsGateway({ guarded: false });
    const first = await bootGatewayApp('socket.io', { imports: [JwksAuthModule.forRoot(issuerOptions(issuer, { globalGuard: true }))], gateways: [gateway] });
    await first.app.close();
    const second = await bootGatewayApp('socket.io', { imports: [JwksAuthModule.forRoot(issuerOptions(issuer2, { globalGuard: true }))], gateways: [gateway] });
    try {
      const socket = await connectSocketIo(second.url, { auth: { token: issuer2.sign({ sub: 'erin' }) } });
      try {
        expect(outcomeOf(await callSocketIo(socket, 'open'))).toEqual({ kind: 'ok', sub: 'erin' });
      } finally {
        socket.close();
      }
    } finally {
      await second.app.close();
    }
  });

  it('two modules with globalGuard: a token of one issuer only is refused, a gateway own guard refusing after ours is honoured', async () => {
    @Injectable()
    class NeverGuard implements CanActivate {
      canActivate(): boolean {
        return false;
      }
    }
    const gateway = grantsGateway({ guarded: false });
    const never = grantsGateway({ guarded: false });
    UseGuards(NeverGuard)(never);
    const gw = await bootGatewayApp('socket.io', {
      imports: [JwksAuthModule.forRoot(issuerOptions(issuer, { globalGuard: true })), JwksAuthModule.forRoot(issuerOptions(issuer2, { globalGuard: true }))],
      gateways: [gateway],
      providers: [NeverGuard],
    });
    try {
      const socket = await connectSocketIo(gw.url, { auth: { token: issuer.sign({ sub: 'dana' }) } });
      try {
        // HTTP semantics: both APP_GUARDs must pass, so one issuer's token is refused by the other.
        expect(outcomeOf(await callSocketIo(socket, 'open'))).toEqual({ kind: 'unauthenticated' });
      } finally {
        socket.close();
      }
    } finally {
      await gw.app.close();
    }
  });

  it('ws: a refused message gets exactly one exception frame; socket.io exactly one exception event', async () => {
    const gw = await bootGatewayApp('ws', { imports: [JwksAuthModule.forRoot(issuerOptions(issuer, { globalGuard: true }))], gateways: [grantsGateway({ guarded: true })] });
    try {
      const ws = await connectWs(gw.url, { headers: { authorization: 'Bearer not.a.token' } });
      try {
        const frames = collect(ws, 400);
        ws.send(JSON.stringify({ event: 'open', data: {} }));
        const got = await frames;
        expect(got).toHaveLength(1);
        expect(got[0]).toEqual({ event: 'exception', data: { status: 'error', message: 'Unauthorized', code: 'UNAUTHENTICATED' } });
      } finally {
        ws.close();
      }
    } finally {
      await gw.app.close();
    }
    const io = await bootGatewayApp('socket.io', { imports: [JwksAuthModule.forRoot(issuerOptions(issuer, { globalGuard: true }))], gateways: [grantsGateway({ guarded: true })] });
    try {
      const socket = await connectSocketIo(io.url, { auth: { token: 'not.a.token' } });
      try {
        let exceptions = 0;
        socket.on('exception', () => exceptions++);
        socket.emit('open', {});
        await new Promise((r) => setTimeout(r, 400));
        expect(exceptions).toBe(1);
      } finally {
        socket.close();
      }
    } finally {
      await io.app.close();
    }
  });
});

describe('attack2: stale user on a ws client after a refusal', () => {
  it('an async mapUser of an earlier accepted message does not put the user back after a later refusal', async () => {
    const { FakeClock } = await import('../../lib/testing');
    const clock = new FakeClock(Date.now());
    const issuer = await TestIssuer.start({ clock });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let first = true;
    const gw = await bootGatewayApp(
      'ws',
      {
        imports: [
          JwksAuthModule.forRoot(
            issuerOptions(issuer, {
              mapUser: async (claims) => {
                if (first) {
                  first = false;
                  await gate;
                }
                return claims;
              },
            }),
          ),
        ],
        gateways: [grantsGateway({ guarded: true })],
      },
      { clock },
    );
    try {
      const ws = await connectWs(gw.url, { headers: { authorization: `Bearer ${issuer.sign({ sub: 'ann' }, { expiresInSec: 60 })}` } });
      try {
        const frames = collect(ws, 800);
        ws.send(JSON.stringify({ event: 'open', data: {} }));
        await new Promise((r) => setTimeout(r, 100));
        clock.advance(120_000);
        ws.send(JSON.stringify({ event: 'open', data: {} }));
        await new Promise((r) => setTimeout(r, 100));
        release();
        await new Promise((r) => setTimeout(r, 100));
        ws.send(JSON.stringify({ event: 'public', data: {} }));
        const got = (await frames) as { event: string; data: { route?: string; sub?: unknown } }[];
        const pub = got.find((f) => f.data?.route === 'public');
        expect(got.some((f) => f.event === 'exception')).toBe(true);
        // The token was refused (expired) before `public`: it must not see the user.
        expect(pub?.data.sub).toBeUndefined();
      } finally {
        ws.close();
      }
    } finally {
      await gw.app.close();
      await issuer.close();
    }
  });
});
