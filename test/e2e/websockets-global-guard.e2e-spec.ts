/**
 * What it shows: `globalGuard: true` protects WebSocket gateways whatever the NestJS version.
 * NestJS 11 does not apply global guards to gateway handlers (NestJS 12 does), so the module also
 * puts the guard on each gateway class; where Nest applies both, a message is still verified once.
 */
import { jest } from '@jest/globals';
import { JwksAuthGuard, JwksAuthModule, JwtVerifier } from '../../lib';
import { TestIssuer } from '../../lib/testing';
import { issuerOptions } from '../fixtures/app';
import { bootGatewayApp, grantsGateway } from '../fixtures/transports/ws.gateway';
import { callSocketIo, connectSocketIo, outcomeOf } from '../fixtures/transports/ws.clients';

describe('globalGuard on WebSocket gateways', () => {
  let issuer: TestIssuer;
  beforeAll(async () => {
    issuer = await TestIssuer.start();
  });
  afterAll(async () => {
    await issuer.close();
  });

  it('puts the guard on each gateway class once, and verifies a message once', async () => {
    const bare = grantsGateway({ guarded: false });
    const guarded = grantsGateway({ guarded: true });
    const gw = await bootGatewayApp('socket.io', { imports: [JwksAuthModule.forRoot(issuerOptions(issuer, { globalGuard: true }))], gateways: [bare] });
    const other = await bootGatewayApp('socket.io', { imports: [JwksAuthModule.forRoot(issuerOptions(issuer, { globalGuard: true }))], gateways: [guarded] });
    const verifications = jest.spyOn(gw.app.get(JwtVerifier), 'verifyOrDefer');
    try {
      const added: Array<{ guard?: unknown }> = Reflect.getMetadata('__guards__', bare);
      expect(added).toHaveLength(1);
      expect(added[0].guard).toBeInstanceOf(JwksAuthGuard);
      // Already guarded by the app: left as it was, not guarded twice.
      expect(Reflect.getMetadata('__guards__', guarded)).toEqual([JwksAuthGuard]);
      const socket = await connectSocketIo(gw.url, { auth: { token: issuer.sign({ sub: 'dana' }) } });
      try {
        verifications.mockClear();
        expect(outcomeOf(await callSocketIo(socket, 'open'))).toEqual({ kind: 'ok', sub: 'dana' });
        expect(verifications).toHaveBeenCalledTimes(1);
        expect(outcomeOf(await callSocketIo(socket, 'rolesAny'))).toEqual({ kind: 'forbidden' });
      } finally {
        socket.close();
      }
      const anonymous = await connectSocketIo(gw.url);
      try {
        expect(outcomeOf(await callSocketIo(anonymous, 'open'))).toEqual({ kind: 'unauthenticated' });
        expect(outcomeOf(await callSocketIo(anonymous, 'public'))).toEqual({ kind: 'ok', sub: undefined });
      } finally {
        anonymous.close();
      }
    } finally {
      verifications.mockRestore();
      await gw.app.close();
      await other.app.close();
    }
    // Taken off again with the app: a later app in this process is guarded by its own module only.
    expect(Reflect.getMetadata('__guards__', bare)).toEqual([]);
  });
});
