import { jest } from '@jest/globals';
import type { ContextType, INestApplication } from '@nestjs/common';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { WsException } from '@nestjs/websockets';
import { JwksAuthGuard, JwksAuthModule } from '../../lib';
import { TestIssuer } from '../../lib/testing';
import { rememberUpgradeRequest } from '../../lib/transports/ws-upgrade.registry';
import { bootApp, issuerOptions } from '../fixtures/app';

class SomeGateway {
  handle(): void {}
}

/**
 * A 'ws' context's first argument is the client (socket.io `Socket`, `ws` `WebSocket`). Whatever it
 * is (an adapter of the app's own can pass anything), the guard refuses with the WsException
 * body, never a TypeError, never "Internal server error".
 */
describe('JwksAuthGuard on hostile ws execution contexts', () => {
  let issuer: TestIssuer;
  let app: INestApplication;
  let guard: JwksAuthGuard;
  beforeAll(async () => {
    issuer = await TestIssuer.start();
    app = await bootApp({ imports: [JwksAuthModule.forRoot(issuerOptions(issuer))] });
    guard = app.get(JwksAuthGuard);
  });
  afterAll(async () => {
    await app.close();
    await issuer.close();
  });

  /** 'allowed', or the refusal's `code` with the reason handed to handleRequest; anything else verbatim. */
  const outcome = async (client: unknown): Promise<string> => {
    const ctx = new ExecutionContextHost([client, {}, 'event'], SomeGateway, SomeGateway.prototype.handle);
    ctx.setType('ws' as ContextType);
    const spy = jest.spyOn(JwksAuthGuard.prototype, 'handleRequest');
    try {
      return (await guard.canActivate(ctx)) ? 'allowed' : 'denied';
    } catch (err) {
      const reason = spy.mock.calls.map(([e]) => (e as { code?: string })?.code ?? (e as Error)?.name ?? 'none').join(',');
      if (err instanceof WsException) return `${(err.getError() as { code: string }).code} ${reason}`;
      return `${(err as Error).name}: ${(err as Error).message}`;
    } finally {
      spy.mockRestore();
    }
  };

  it.each<[string, unknown, string]>([
    ['undefined', undefined, 'ERR_JWT_MISSING'],
    ['null', null, 'ERR_JWT_MISSING'],
    ['a string', 'client', 'ERR_JWT_MISSING'],
    ['a number', 42, 'ERR_JWT_MISSING'],
    ['an empty object', {}, 'ERR_JWT_MISSING'],
    ['HTTP-shaped headers (never read from the client itself)', { headers: { authorization: `Bearer x.y.z` } }, 'ERR_JWT_MISSING'],
    ['a handshake that is a string', { handshake: 'auth' }, 'ERR_JWT_MISSING'],
    ['a null handshake auth', { handshake: { auth: null } }, 'ERR_JWT_MISSING'],
    ['a numeric auth.token', { handshake: { auth: { token: 5 } } }, 'ERR_JWT_MALFORMED'],
    ['an object auth.token', { handshake: { auth: { token: { toString: () => 'x' } } } }, 'ERR_JWT_MALFORMED'],
    ['a handshake with hostile headers', { handshake: { auth: {}, headers: { authorization: ['Bearer a', 'Bearer b'] } } }, 'ERR_JWT_MALFORMED'],
    ['a request with non-array rawHeaders', { handshake: { auth: {} }, request: { headers: { authorization: 'Bearer a.b.c' }, rawHeaders: 'x' } }, 'ERR_JWT_MALFORMED'],
  ])('refuses a client that is %s with UNAUTHENTICATED and a refusal code, not a TypeError', async (_name, client, code) => {
    expect(await outcome(client)).toBe(`UNAUTHENTICATED ${code}`);
  });

  it('verifies a socket.io-shaped client and writes the user on it; a frozen one is refused', async () => {
    const client: { handshake: { auth: { token: string } }; user?: unknown } = { handshake: { auth: { token: issuer.sign({ sub: 'sock' }) } } };
    expect(await outcome(client)).toBe('allowed');
    expect(client.user).toMatchObject({ sub: 'sock' });
    expect(await outcome(Object.freeze({ handshake: { auth: { token: issuer.sign() } } }))).toBe('UNAUTHENTICATED none');
  });

  it('verifies a ws client by its recorded upgrade request', async () => {
    const client: { readyState: number; user?: unknown } = { readyState: 1 };
    rememberUpgradeRequest(client, { headers: { authorization: `Bearer ${issuer.sign({ sub: 'wsc' })}` }, rawHeaders: [] });
    expect(await outcome(client)).toBe('allowed');
    expect(client.user).toMatchObject({ sub: 'wsc' });
  });
});
