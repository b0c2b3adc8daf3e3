/**
 * What it shows: `JwksAuthGuard`, `@Public()`, `@CurrentUser()` and the grant decorators on a real
 * Nest TCP microservice (127.0.0.1, an ephemeral port) called by a real `ClientProxy`. A refusal
 * reaches the client's `send()` as `{ status: 'error', message, code, retryAfter? }` (never Nest's
 * 'Internal server error'), with no error log per refusal; a refused event runs nothing, quietly.
 */
import { jest } from '@jest/globals';
import { Controller, Get, Logger, UseGuards, type ModuleMetadata } from '@nestjs/common';
import { Ctx, EventPattern, MessagePattern, Payload, type TcpContext } from '@nestjs/microservices';
import request from 'supertest';
import { CurrentUser, JwksAuthGuard, JwksAuthModule, Public, type JwksAuthModuleOptions } from '../../lib';
import { TestIssuer, waitFor } from '../../lib/testing';
import { issuerOptions } from '../fixtures/app';
import { TcpDriver } from '../fixtures/transports/tcp.driver';
import { GRANT_ROUTES, type CallOutcome, type GrantRoute } from '../fixtures/transports/transport.driver';

const UNAUTHENTICATED = { status: 'error', message: 'Unauthorized', code: 'UNAUTHENTICATED' };
const FORBIDDEN = { status: 'error', message: 'Forbidden', code: 'FORBIDDEN' };
const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

/** What the event handlers saw, in order. */
const events: Array<{ marker: unknown; sub: unknown }> = [];

@Controller()
@UseGuards(JwksAuthGuard)
class ExtraController {
  @MessagePattern('me')
  me(@CurrentUser() user: unknown): unknown {
    return user;
  }

  /** Echoes its payload: the claims must not ride back in it. */
  @MessagePattern('echo')
  echo(@Payload() data: unknown): unknown {
    return data;
  }

  /** What the transport's own context holds: the user must not have been written on it either. */
  @MessagePattern('context-keys')
  contextKeys(@Ctx() context: TcpContext): unknown {
    return Object.keys(context).filter((k) => k !== 'args');
  }

  @EventPattern('audit')
  audit(@Payload() data: { marker?: unknown }, @CurrentUser('sub') sub: unknown): void {
    events.push({ marker: data?.marker, sub });
  }

  @Public()
  @EventPattern('open-event')
  openEvent(@Payload() data: { marker?: unknown }, @CurrentUser('sub') sub: unknown): void {
    events.push({ marker: data?.marker, sub });
  }
}

/** Not guarded here: open unless `globalGuard: true`. */
@Controller('http')
class UnguardedController {
  @MessagePattern('unguarded')
  unguarded(@CurrentUser('sub') sub: unknown): unknown {
    return { sub: sub ?? null };
  }

  @Get('unguarded')
  httpUnguarded(): { ok: true } {
    return { ok: true };
  }
}

/** The client's error for a refused call (rejects the test when the call succeeds). */
async function refusal(driver: TcpDriver, pattern: string, data: unknown): Promise<unknown> {
  return driver.send(pattern, data).then(
    (reply) => {
      throw new Error(`expected a refusal, got ${JSON.stringify(reply)}`);
    },
    (err: unknown) => err,
  );
}

describe('JwksAuthGuard on a TCP microservice', () => {
  let issuer: TestIssuer;
  let driver: TcpDriver;
  let errorLog: ReturnType<typeof jest.spyOn>;
  let initSpy: ReturnType<typeof jest.spyOn>;
  let activateSpy: ReturnType<typeof jest.spyOn>;

  /**
   * Whether every guard instance that checked a message had its onModuleInit called by Nest (which
   * preloads the RpcException class): the instance `@UseGuards` makes for a controller is not the
   * module's provider, so the check is by instance.
   */
  const guardsUsedWereInitialised = (): boolean => {
    const used = new Set(activateSpy.mock.contexts);
    const initialised = new Set(initSpy.mock.contexts);
    return used.size > 0 && [...used].every((guard) => initialised.has(guard));
  };

  async function start(options: Partial<JwksAuthModuleOptions> = {}, driverOptions: ConstructorParameters<typeof TcpDriver>[0] = {}, imports: NonNullable<ModuleMetadata['imports']> = []) {
    driver = new TcpDriver({ controllers: [ExtraController, UnguardedController], ...driverOptions });
    await driver.start([JwksAuthModule.forRoot(issuerOptions(issuer, options)), ...imports]);
  }

  beforeAll(async () => {
    issuer = await TestIssuer.start();
  });
  beforeEach(() => {
    events.length = 0;
    errorLog = jest.spyOn(Logger.prototype, 'error');
    initSpy = jest.spyOn(JwksAuthGuard.prototype, 'onModuleInit');
    activateSpy = jest.spyOn(JwksAuthGuard.prototype, 'canActivate');
  });
  afterEach(async () => {
    errorLog.mockRestore();
    initSpy.mockRestore();
    activateSpy.mockRestore();
    await driver?.close();
  });
  afterAll(async () => {
    await issuer.close();
  });

  describe('guarded with @UseGuards', () => {
    beforeEach(() => start());

    it("initialises the guard instance of @UseGuards (Nest calls its onModuleInit), so refusals are the app's own RpcException", async () => {
      expect(await driver.call('open', undefined)).toEqual({ kind: 'unauthenticated' });
      expect(guardsUsedWereInitialised()).toBe(true);
    });

    it('accepts a valid bearer token in the payload headers and hands the claims to @CurrentUser()', async () => {
      expect(await driver.call('open', issuer.sign({ sub: 'alice' }))).toEqual({ kind: 'ok', sub: 'alice' });
      expect(await driver.send('me', bearer(issuer.sign({ sub: 'bob', scope: 'a b' })))).toMatchObject({ sub: 'bob', scope: 'a b', iss: issuer.issuer });
    });

    it.each([
      ['no token', () => ({})],
      ['an expired token', () => bearer(issuer.sign({}, { expiresInSec: -60 }))],
      ['a bad signature', () => bearer(`${issuer.sign().slice(0, -6)}AAAAAA`)],
      ['an unknown kid', () => bearer(issuer.sign({}, { header: { kid: 'no-such-kid' } }))],
      ['a Basic credential', () => ({ headers: { authorization: 'Basic dXNlcjpwYXNz' } })],
      ['a token of another audience', () => bearer(issuer.sign({ aud: 'someone-else' }))],
    ])('refuses %s with the UNAUTHENTICATED error object, and logs no error', async (_name, data) => {
      expect(await refusal(driver, 'open', data())).toEqual(UNAUTHENTICATED);
      expect(errorLog).not.toHaveBeenCalled();
    });

    it('refuses a missing grant with the FORBIDDEN error object, and logs no error', async () => {
      expect(await refusal(driver, 'scopesAll', bearer(issuer.sign({ scope: 'orders:read' })))).toEqual(FORBIDDEN);
      expect(errorLog).not.toHaveBeenCalled();
    });

    it('neither writes the user into the payload (echoed back) nor onto the transport context', async () => {
      const data = { ...bearer(issuer.sign({ sub: 'carol' })), note: 'x' };
      expect(await driver.send('echo', data)).toEqual(data);
      expect(await driver.send('context-keys', bearer(issuer.sign()))).toEqual([]);
    });

    it('runs an event handler for a valid token, with its user', async () => {
      driver.client!.emit('audit', { ...bearer(issuer.sign({ sub: 'dave' })), marker: 1 });
      await waitFor(() => events.length === 1);
      expect(events).toEqual([{ marker: 1, sub: 'dave' }]);
    });

    it('drops a refused event quietly: the handler does not run, nothing is logged as an error, the server carries on', async () => {
      driver.client!.emit('audit', { marker: 'no token' });
      driver.client!.emit('audit', { ...bearer(issuer.sign({}, { expiresInSec: -60 })), marker: 'expired' });
      driver.client!.emit('audit', { ...bearer(issuer.sign({ sub: 'erin' })), marker: 'valid' });
      await waitFor(() => events.length > 0);
      // One socket, handled in order: the two refused ones came first.
      await new Promise((r) => setTimeout(r, 50));
      expect(events).toEqual([{ marker: 'valid', sub: 'erin' }]);
      expect(errorLog).not.toHaveBeenCalled();
      expect(await driver.call('open', issuer.sign({ sub: 'after' }))).toEqual({ kind: 'ok', sub: 'after' });
    });

    it('runs a @Public() event without a token', async () => {
      driver.client!.emit('open-event', { marker: 'public' });
      await waitFor(() => events.length === 1);
      expect(events).toEqual([{ marker: 'public', sub: undefined }]);
    });

    const hostile: Array<[string, unknown]> = [
      ['a string', 'Bearer x'],
      ['a number', 42],
      ['false', false],
      ['an array', [{ headers: { authorization: 'Bearer a.b.c' } }]],
      ['null headers', { headers: null }],
      ['string headers', { headers: 'authorization: Bearer a.b.c' }],
      ['a numeric authorization', { headers: { authorization: 5 } }],
      ['an object authorization', { headers: { authorization: { toString: 'Bearer a.b.c' } } }],
      ['two tokens in an array', { headers: { authorization: ['Bearer a.b.c', 'Bearer d.e.f'] } }],
      ['a huge authorization', { headers: { authorization: `Bearer ${'a'.repeat(2_000_000)}` } }],
      ['a huge payload', { blob: 'x'.repeat(4_000_000) }],
    ];
    it.each(hostile)('refuses a payload that is %s with UNAUTHENTICATED, never a crash', async (_name, data) => {
      expect(await refusal(driver, 'open', data)).toEqual(UNAUTHENTICATED);
      expect(errorLog).not.toHaveBeenCalled();
    });

    it('refuses deeply nested payloads and a valid token behind __proto__ keys (own properties only)', async () => {
      let deep: unknown = { end: true };
      for (let i = 0; i < 2_000; i++) deep = { headers: deep };
      expect(await refusal(driver, 'open', deep)).toEqual(UNAUTHENTICATED);
      const token = issuer.sign({ sub: 'proto' });
      // JSON.parse makes `__proto__` an own key: sent as is, read on the server as an own key.
      expect(await refusal(driver, 'open', JSON.parse(`{"__proto__":{"headers":{"authorization":"Bearer ${token}"}}}`))).toEqual(UNAUTHENTICATED);
      expect(await refusal(driver, 'open', JSON.parse(`{"headers":{"__proto__":{"authorization":"Bearer ${token}"}}}`))).toEqual(UNAUTHENTICATED);
      expect(await driver.call('open', token)).toEqual({ kind: 'ok', sub: 'proto' });
    });

    it('reads the packet metadata a client sets with setOnDispatchHook (NestJS ≥ 12), and refuses two different tokens', async () => {
      const client = driver.client as unknown as { setOnDispatchHook?: (hook: (packet: { metadata?: unknown }) => void) => void };
      if (typeof client.setOnDispatchHook !== 'function') return; // NestJS 11: packets carry no metadata
      let metadata: unknown;
      client.setOnDispatchHook((packet) => {
        packet.metadata = metadata;
      });
      const alice = issuer.sign({ sub: 'alice' });
      metadata = { authorization: `Bearer ${alice}` };
      expect(await driver.send('open', {})).toEqual({ sub: 'alice' });
      expect(await driver.send('open', bearer(alice))).toEqual({ sub: 'alice' });
      expect(await refusal(driver, 'open', bearer(issuer.sign({ sub: 'mallory' })))).toEqual(UNAUTHENTICATED);
      for (const hostileMetadata of ['Bearer x', [1, 2], { authorization: 7 }, { authorization: `Bearer ${alice}`, Authorization: `Bearer ${alice}` }]) {
        metadata = hostileMetadata;
        expect(await refusal(driver, 'open', {})).toEqual(UNAUTHENTICATED);
      }
    });
  });

  describe('authorization decorators (the cross-transport driver)', () => {
    beforeEach(() => start());

    const grants = {
      none: {},
      reader: { scope: 'orders:read', permissions: ['orders:read'], roles: ['clerk'] },
      writer: { scope: 'orders:read orders:write', permissions: ['orders:read', 'orders:write'], roles: ['clerk', 'auditor'] },
      manager: { scope: 'orders:read', roles: ['manager'] },
    } as const;
    const expected: Record<keyof typeof grants, Record<GrantRoute, CallOutcome['kind']>> = {
      none: { open: 'ok', scopesAll: 'forbidden', scopesAny: 'forbidden', permissionsAll: 'forbidden', permissionsAny: 'forbidden', rolesAll: 'forbidden', rolesAny: 'forbidden', stacked: 'forbidden', public: 'ok' },
      reader: { open: 'ok', scopesAll: 'forbidden', scopesAny: 'ok', permissionsAll: 'forbidden', permissionsAny: 'ok', rolesAll: 'forbidden', rolesAny: 'ok', stacked: 'forbidden', public: 'ok' },
      writer: { open: 'ok', scopesAll: 'ok', scopesAny: 'ok', permissionsAll: 'ok', permissionsAny: 'ok', rolesAll: 'ok', rolesAny: 'ok', stacked: 'forbidden', public: 'ok' },
      manager: { open: 'ok', scopesAll: 'forbidden', scopesAny: 'ok', permissionsAll: 'forbidden', permissionsAny: 'forbidden', rolesAll: 'forbidden', rolesAny: 'ok', stacked: 'ok', public: 'ok' },
    };

    it.each(Object.keys(grants) as Array<keyof typeof grants>)('answers every grant route as expected for a %s token, and without a token', async (who) => {
      const token = issuer.sign({ sub: who, ...grants[who] });
      for (const route of GRANT_ROUTES) {
        const kind = expected[who][route];
        expect([route, await driver.call(route, token)]).toEqual([route, kind === 'ok' ? { kind, sub: route === 'public' ? undefined : who } : { kind }]);
        expect([route, await driver.call(route, undefined)]).toEqual([route, route === 'public' ? { kind: 'ok', sub: undefined } : { kind: 'unauthenticated' }]);
      }
    });
  });

  describe('token sources (microservice.token)', () => {
    it("{ from: 'payload', path } reads that own property, with no scheme for another name", async () => {
      await start({ microservice: { token: { from: 'payload', path: 'auth.token' } } });
      expect(await driver.send('open', { auth: { token: issuer.sign({ sub: 'p' }) } })).toEqual({ sub: 'p' });
      expect(await refusal(driver, 'open', bearer(issuer.sign()))).toEqual(UNAUTHENTICATED);
      expect(await refusal(driver, 'open', JSON.parse(`{"auth":{"__proto__":{"token":"${issuer.sign()}"}}}`))).toEqual(UNAUTHENTICATED);
    });

    it("{ from: 'payload', path: [...], scheme: 'Bearer' } reads Bearer <token> at an array path", async () => {
      await start({ microservice: { token: { from: 'payload', path: ['meta', 'auth'], scheme: 'Bearer' } } });
      expect(await driver.send('open', { meta: { auth: `Bearer ${issuer.sign({ sub: 'q' })}` } })).toEqual({ sub: 'q' });
      expect(await refusal(driver, 'open', { meta: { auth: issuer.sign() } })).toEqual(UNAUTHENTICATED);
    });

    it("{ from: 'metadata', name } reads the packet metadata only (NestJS ≥ 12)", async () => {
      await start({ microservice: { token: { from: 'metadata', name: 'x-token' } } });
      expect(await refusal(driver, 'open', { ...bearer(issuer.sign()), 'x-token': issuer.sign() })).toEqual(UNAUTHENTICATED);
      const client = driver.client as unknown as { setOnDispatchHook?: (hook: (packet: { metadata?: unknown }) => void) => void };
      if (typeof client.setOnDispatchHook !== 'function') return;
      const token = issuer.sign({ sub: 'm' });
      client.setOnDispatchHook((packet) => {
        packet.metadata = { 'X-Token': token };
      });
      expect(await driver.send('open', {})).toEqual({ sub: 'm' });
    });

    it('a function (data, context) reads what it likes; one that throws is a 401 logged by error name', async () => {
      await start({
        microservice: {
          token: (data: { jwt?: string; boom?: boolean }, context) => {
            if (data?.boom) throw new Error(`secret ${data.jwt}`);
            return context.getType() === 'rpc' ? data?.jwt : null;
          },
        },
      });
      const token = issuer.sign({ sub: 'f' });
      expect(await driver.send('open', { jwt: token })).toEqual({ sub: 'f' });
      expect(await refusal(driver, 'open', { jwt: token, boom: true })).toEqual(UNAUTHENTICATED);
      const logged = (errorLog.mock.calls as unknown[][]).map((c) => String(c[0]));
      expect(logged).toEqual([expect.stringContaining('token extractor threw Error')]);
      expect(logged.join()).not.toContain(token);
    });
  });

  describe('userProperty', () => {
    it('writes the user under userProperty, where @CurrentUser() reads it', async () => {
      await start({ userProperty: 'account' });
      expect(await driver.call('open', issuer.sign({ sub: 'acc' }))).toEqual({ kind: 'ok', sub: 'acc' });
    });
  });

  describe('no usable key set', () => {
    let down: TestIssuer;
    beforeEach(async () => {
      down = await TestIssuer.start();
      down.setFault({ status: 500 });
    });
    afterEach(() => down.close());

    const startDown = async (extra: Partial<JwksAuthModuleOptions> = {}) => {
      driver = new TcpDriver();
      await driver.start([JwksAuthModule.forRoot(issuerOptions(down, { warmupTimeoutMs: 200, cache: { maxWaitMs: 200 }, ...extra }))]);
      errorLog.mockClear(); // the warm-up failure: logged once at startup, by design
    };

    it('answers SERVICE_UNAVAILABLE with retryAfter in seconds for a token, UNAUTHENTICATED without one', async () => {
      await startDown();
      const err = (await refusal(driver, 'open', bearer(down.sign()))) as Record<string, unknown>;
      expect(err).toEqual({ status: 'error', message: 'Service Unavailable', code: 'SERVICE_UNAVAILABLE', retryAfter: expect.any(Number) });
      expect(err.retryAfter).toBeGreaterThanOrEqual(1);
      expect(await refusal(driver, 'open', {})).toEqual(UNAUTHENTICATED);
      expect(errorLog).not.toHaveBeenCalled();
    });

    it('answers UNAUTHENTICATED with unavailableStatus: 401', async () => {
      await startDown({ unavailableStatus: 401 });
      expect(await refusal(driver, 'open', bearer(down.sign()))).toEqual(UNAUTHENTICATED);
    });
  });

  describe('globalGuard', () => {
    it('guards every message handler of a pure microservice; @Public() opts out', async () => {
      await start({ globalGuard: true });
      activateSpy.mockClear();
      expect(await refusal(driver, 'unguarded', {})).toEqual(UNAUTHENTICATED);
      expect(guardsUsedWereInitialised()).toBe(true);
      expect(await driver.send('unguarded', bearer(issuer.sign({ sub: 'g' })))).toEqual({ sub: 'g' });
      expect(await driver.call('public', undefined)).toEqual({ kind: 'ok', sub: undefined });
      expect(await driver.call('scopesAll', issuer.sign({ scope: 'orders:read' }))).toEqual({ kind: 'forbidden' });
    });

    it('guards both sides of a hybrid app: TCP refusals as RPC errors, HTTP unchanged', async () => {
      await start({ globalGuard: true }, { hybrid: true });
      expect(await refusal(driver, 'unguarded', {})).toEqual(UNAUTHENTICATED);
      expect(guardsUsedWereInitialised()).toBe(true);
      expect(await driver.send('unguarded', bearer(issuer.sign({ sub: 'h' })))).toEqual({ sub: 'h' });
      const http = (driver.app as { getHttpServer(): Parameters<typeof request>[0] }).getHttpServer();
      const refused = await request(http).get('/http/unguarded');
      expect(refused.status).toBe(401);
      expect(refused.headers['www-authenticate']).toBe('Bearer');
      expect(refused.body).toEqual({ statusCode: 401, message: 'Unauthorized' });
      await request(http).get('/http/unguarded').set('Authorization', `Bearer ${issuer.sign()}`).expect(200, { ok: true });
    });

    it('leaves unguarded handlers open without globalGuard', async () => {
      await start();
      expect(await driver.send('unguarded', {})).toEqual({ sub: null });
    });
  });
});
