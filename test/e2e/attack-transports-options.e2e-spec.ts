/**
 * Option validation holes of the transports: misconfigurations that passed `forRoot` silently.
 */
import { PassportModule } from '@nestjs/passport';
import { JwksAuthModule, JwksOptionsError } from '../../lib';
import { TestIssuer } from '../../lib/testing';
import { resolveJwksOptions } from '../../lib/options/options.validator';
import { isUsableUserProperty } from '../../lib/guards/request-user.property';
import { issuerOptions } from '../fixtures/app';
import { carrierMembers } from '../fixtures/transports/carrier-members';
import { callSocketIo, connectSocketIo, outcomeOf } from '../fixtures/transports/ws.clients';
import { bootGatewayApp, grantsGateway } from '../fixtures/transports/ws.gateway';

const base = { issuer: 'https://idp.example/', jwksUri: 'https://idp.example/jwks', audience: 'api' };

/** The problems `resolveJwksOptions` reports for `input`, or [] when it accepts it. */
function problemsOf(input: Record<string, unknown>): string[] {
  try {
    resolveJwksOptions({ ...base, ...input } as never);
    return [];
  } catch (err) {
    if (!(err instanceof JwksOptionsError)) throw err;
    return [err.message];
  }
}

describe('transport option validation', () => {
  it.each(['emit', 'handshake', 'request', 'id', 'send', 'headers', 'req', 'connectionParams', 'extra', 'reply', 'getArgs'])(
    'refuses userProperty %p, a member of the socket, request or context the guard writes on, saying so',
    (property) => {
      const problems = problemsOf({ userProperty: property });
      expect(problems).toHaveLength(1);
      expect(problems[0]).toContain('userProperty must be');
      expect(problems[0]).toContain('not one every object has nor a member of the request, socket or context');
    },
  );

  it.each(['user', 'account', 'principal', 'auth', 'identity', 'claims', 'currentUser'])('accepts userProperty %p', (property) => {
    expect(resolveJwksOptions({ ...base, userProperty: property }).userProperty).toBe(property);
  });

  it('refuses every member name of a real Express and Fastify request, socket.io Socket, ws WebSocket and Nest RPC context', async () => {
    const members = await carrierMembers();
    const usable: string[] = [];
    for (const [carrier, names] of Object.entries(members)) {
      expect(names.size).toBeGreaterThan(3); // enumerated something (NestJS 11's RPC contexts have fewer members)
      for (const name of names) if (isUsableUserProperty(name)) usable.push(`${carrier}.${name}`);
    }
    expect(usable).toEqual([]);
  });

  it.each([
    ['token', { token: async () => 'x' }],
    ['websocket.token', { websocket: { token: async () => 'x' } }],
    ['subscriptions.token', { subscriptions: { token: async () => 'x' } }],
    ['microservice.token', { microservice: { token: async () => 'x' } }],
    ['websocket.token', { websocket: { token: async function* () {} } }],
  ])('refuses an async %s extractor at startup (it is called synchronously, so every call would be refused)', (shown, input) => {
    const problems = problemsOf(input);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(`${shown} must be a synchronous function returning the token`);
  });

  it.each([
    ['token', { token: () => 'x' }],
    ['websocket.token', { websocket: { token: () => 'x' } }],
    ['subscriptions.token', { subscriptions: { token: () => 'x' } }],
    ['microservice.token', { microservice: { token: () => 'x' } }],
    ['websocket.token (a plain function returning a promise: caught per call)', { websocket: { token: () => Promise.resolve('x') } }],
  ])('accepts a synchronous %s extractor', (_shown, input) => {
    expect(problemsOf(input)).toEqual([]);
  });

  describe('what userProperty "emit" would do to a socket.io gateway', () => {
    let issuer: TestIssuer;
    beforeAll(async () => {
      issuer = await TestIssuer.start();
    });
    afterAll(async () => {
      await issuer.close();
    });

    it('JwksAuthModule.forRoot({ userProperty: "emit" }) is refused at startup', async () => {
      await expect(bootGatewayApp('socket.io', { imports: [JwksAuthModule.forRoot(issuerOptions(issuer, { userProperty: 'emit' }))], gateways: [grantsGateway({ handshake: 'refuse' })] })).rejects.toThrow(
        JwksOptionsError,
      );
    });

    it("PassportModule's property 'emit' (checked by the guard): every message is refused, the gateway keeps answering, nothing crashes", async () => {
      const gw = await bootGatewayApp('socket.io', {
        imports: [JwksAuthModule.forRoot(issuerOptions(issuer)), PassportModule.register({ property: 'emit' })],
        gateways: [grantsGateway({ handshake: 'refuse' })],
      });
      try {
        const socket = await connectSocketIo(gw.url, { auth: { token: issuer.sign({ sub: 'alice' }) } });
        try {
          expect(outcomeOf(await callSocketIo(socket, 'open'))).toEqual({ kind: 'unauthenticated' });
          expect(outcomeOf(await callSocketIo(socket, 'public'))).toEqual({ kind: 'ok', sub: undefined });
          expect(outcomeOf(await callSocketIo(socket, 'open'))).toEqual({ kind: 'unauthenticated' });
        } finally {
          socket.close();
        }
      } finally {
        await gw.app.close();
      }
    });
  });
});
