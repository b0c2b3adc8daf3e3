import { jest } from '@jest/globals';
import { UnauthorizedException, type INestApplication } from '@nestjs/common';
import type { ContextType } from '@nestjs/common';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { JwksAuthGuard, JwksAuthModule } from '../../lib';
import { JwksGraphQLRefusal } from '../../lib/transports/graphql.refusal';
import { RpcException } from '@nestjs/microservices';
import { requestUser } from '../../lib/guards/request-user.property';
import { requestOf } from '../../lib/transports/transport.registry';
import { TestIssuer } from '../../lib/testing';
import { bootApp, issuerOptions, HTTP_PLATFORMS } from '../fixtures/app';

class SomeHandlers {
  handle(): void {}
}

/**
 * Outside HTTP (microservices, websockets) the guard's "request" is whatever the transport passes
 * first: a payload, a socket, nothing. The guard must refuse cleanly, never crash with a TypeError:
 * an UnauthorizedException where the transport is not supported yet, the app's `RpcException`
 * with code UNAUTHENTICATED on microservices (the payload's `headers.authorization` by default,
 * the user kept beside the message, not written into it). On GraphQL the request is the
 * context's `req` (the third resolver argument), and a refusal is a GraphQL error
 * (`extensions.code` UNAUTHENTICATED); the same hostile values go there.
 */
describe.each(HTTP_PLATFORMS)('JwksAuthGuard on non-HTTP execution contexts (%s)', (platform) => {
  let issuer: TestIssuer;
  let app: INestApplication;
  let guard: JwksAuthGuard;
  beforeAll(async () => {
    issuer = await TestIssuer.start();
    app = await bootApp({ imports: [JwksAuthModule.forRoot(issuerOptions(issuer))] }, { platform });
    guard = app.get(JwksAuthGuard);
  });
  afterAll(async () => {
    await app.close();
    await issuer.close();
  });

  const contextOf = (type: string, first: unknown) => {
    const args = type === 'graphql' ? [undefined, {}, { req: first }, {}] : [first, {}, {}];
    const ctx = new ExecutionContextHost(args, SomeHandlers, SomeHandlers.prototype.handle);
    ctx.setType(type as ContextType);
    return ctx;
  };
  /**
   * What canActivate did: 'allowed', or what it threw (synchronously or by rejecting) with the
   * reason it handed to `handleRequest`: a refusal code, or the name of an unexpected error.
   */
  const outcome = async (type: string, first: unknown): Promise<string> => {
    const spy = jest.spyOn(JwksAuthGuard.prototype, 'handleRequest');
    try {
      return (await guard.canActivate(contextOf(type, first))) ? 'allowed' : 'denied';
    } catch (err) {
      const reason = spy.mock.calls.map(([e]) => (e as { code?: string })?.code ?? (e as Error)?.name ?? 'none').join(',');
      if (err instanceof JwksGraphQLRefusal && err.extensions.code === 'UNAUTHENTICATED') return `Unauthorized ${reason}`;
      if (err instanceof RpcException && (err.getError() as { code?: unknown }).code === 'UNAUTHENTICATED') return `Unauthorized ${reason}`;
      return err instanceof UnauthorizedException ? `Unauthorized ${reason}` : `${(err as Error).name}: ${(err as Error).message}`;
    } finally {
      spy.mockRestore();
    }
  };

  const hostile: Array<[string, unknown, string]> = [
    ['undefined', undefined, 'ERR_JWT_MISSING'],
    ['null', null, 'ERR_JWT_MISSING'],
    ['a string', 'payload', 'ERR_JWT_MISSING'],
    ['a number', 42, 'ERR_JWT_MISSING'],
    ['an empty object', {}, 'ERR_JWT_MISSING'],
    ['null headers', { headers: null }, 'ERR_JWT_MISSING'],
    ['string headers', { headers: 'authorization' }, 'ERR_JWT_MISSING'],
    ['a numeric authorization', { headers: { authorization: 5 } }, 'ERR_JWT_MALFORMED'],
    ['an object authorization', { headers: { authorization: { toString: () => 'Bearer x' } } }, 'ERR_JWT_MALFORMED'],
    ['an array authorization', { headers: { authorization: ['Bearer a', 'Bearer b'] } }, 'ERR_JWT_MALFORMED'],
    ['non-array rawHeaders', { headers: { authorization: 'Bearer a.b.c' }, rawHeaders: 'Authorization' }, 'ERR_JWT_MALFORMED'],
    ['rawHeaders with non-strings', { headers: { authorization: 'Bearer a.b.c' }, rawHeaders: [null, 1, undefined, {}] }, 'ERR_JWT_MALFORMED'],
    ['a raw without rawHeaders', { headers: { authorization: 'Bearer a.b.c' }, raw: null }, 'ERR_JWT_MALFORMED'],
    ['a raw with hostile rawHeaders', { headers: { authorization: 'Bearer a.b.c' }, raw: { rawHeaders: [Symbol('x'), null] } }, 'ERR_JWT_MALFORMED'],
    ['a frozen payload with a valid token', 'frozen', 'none'],
  ];

  // 'ws' has its own transport now (a WsException; the token from the handshake): see websockets-context.e2e-spec.ts.
  for (const type of ['rpc', 'graphql']) {
    const where = type === 'graphql' ? "context's req" : 'first argument';
    it.each(hostile)(`refuses a ${type} context whose ${where} is %s with a 401 and a refusal code, not a TypeError`, async (_name, first, code) => {
      const payload = first === 'frozen' ? Object.freeze({ headers: { authorization: `Bearer ${issuer.sign()}` } }) : first;
      // A microservice payload is never written to: frozen or not, a valid token is accepted.
      expect(await outcome(type, payload)).toBe(type === 'rpc' && first === 'frozen' ? 'allowed' : `Unauthorized ${code}`);
    });
  }

  it("verifies a microservice payload's headers.authorization and keeps the user beside the message, not in the payload", async () => {
    const payload: { headers: { authorization: string }; user?: unknown } = { headers: { authorization: `Bearer ${issuer.sign({ sub: 'svc' })}` } };
    const ctx = contextOf('rpc', payload);
    expect(await guard.canActivate(ctx)).toBe(true);
    expect(payload).toEqual({ headers: { authorization: expect.any(String) } });
    expect(requestUser(requestOf(ctx))).toMatchObject({ sub: 'svc' });
  });

  it("verifies the token of a GraphQL context's req and writes the user there, not on the root value", async () => {
    const req: { headers: { authorization: string }; user?: unknown } = { headers: { authorization: `Bearer ${issuer.sign({ sub: 'gql' })}` } };
    expect(await outcome('graphql', req)).toBe('allowed');
    expect(req.user).toMatchObject({ sub: 'gql' });
  });
});
