import { jest } from '@jest/globals';
import { Controller, Get, Logger, Req, UseGuards, type ExecutionContext, type INestApplication } from '@nestjs/common';
import { PassportModule } from '@nestjs/passport';
import request from 'supertest';
import { CurrentUser, JwksAuthGuard, JwksAuthModule, Scopes, type JwksAuthModuleOptions, type JwtClaims } from '../../lib';
import { TestIssuer } from '../../lib/testing';
import { bootApp, issuerOptions } from '../fixtures/app';

/** Shows where the guard wrote the user and what `@CurrentUser()` reads. */
@Controller('where')
class WhereController {
  @UseGuards(JwksAuthGuard)
  @Get()
  where(@Req() req: Record<string, unknown>, @CurrentUser() current: unknown, @CurrentUser('name') name: unknown): Record<string, unknown> {
    return { user: req.user ?? null, account: req.account ?? null, current, name: name ?? null };
  }

  /** Needs a scope: the account must not be loaded for a token that lacks it. */
  @UseGuards(JwksAuthGuard)
  @Scopes('orders:write')
  @Get('scoped')
  scoped(@CurrentUser() current: unknown): unknown {
    return current;
  }

  /** No guard: protected only by the global guard. */
  @Get('global')
  global(@Req() req: Record<string, unknown>, @CurrentUser() current: unknown): Record<string, unknown> {
    return { user: req.user ?? null, account: req.account ?? null, current };
  }
}

describe('mapUser and the user property over real HTTP', () => {
  let issuer: TestIssuer;
  const apps: INestApplication[] = [];
  async function boot(options: Partial<JwksAuthModuleOptions>, imports: unknown[] = []): Promise<INestApplication> {
    const app = await bootApp({ controllers: [WhereController], imports: [JwksAuthModule.forRoot(issuerOptions(issuer, options)), ...(imports as [])] });
    apps.push(app);
    return app;
  }
  const get = (app: INestApplication, path: string, token?: string) => {
    const r = request(app.getHttpServer()).get(path);
    return token === undefined ? r : r.set('Authorization', `Bearer ${token}`);
  };

  beforeAll(async () => {
    issuer = await TestIssuer.start();
  });
  afterAll(async () => {
    for (const app of apps) await app.close();
    await issuer.close();
  });

  it('checks the route\'s grants before mapUser: a token without the scope never loads an account', async () => {
    const mapped: unknown[] = [];
    const app = await boot({ mapUser: (claims: JwtClaims) => (mapped.push(claims.sub), { id: claims.sub }) });
    await get(app, '/where/scoped', issuer.sign({ sub: 'mallory', scope: 'orders:read' })).expect(403);
    expect(mapped).toEqual([]);
    await get(app, '/where/scoped', issuer.sign({ sub: 'alice', scope: 'orders:write' })).expect(200, { id: 'alice' });
    expect(mapped).toEqual(['alice']);
  });

  it('a synchronous mapUser: its result is the user, it gets the claims and the context, and no promise is made', async () => {
    const seen: Array<[unknown, string]> = [];
    const app = await boot({
      mapUser: (claims: JwtClaims, context: ExecutionContext) => {
        seen.push([claims.sub, context.getType()]);
        return { id: `acct-${String(claims.sub)}`, name: 'Alice' };
      },
    });
    const guard = app.get(JwksAuthGuard);
    await get(app, '/where', issuer.sign({ sub: 'alice' })).expect(200, { user: { id: 'acct-alice', name: 'Alice' }, account: null, current: { id: 'acct-alice', name: 'Alice' }, name: 'Alice' });
    expect(seen).toEqual([['alice', 'http']]);
    // The guard's own answer for a warm key: true, not a promise.
    const req = { headers: { authorization: `Bearer ${issuer.sign({ sub: 'bob' })}` } } as Record<string, unknown>;
    const context = { getType: () => 'http', getHandler: () => WhereController.prototype.where, getClass: () => WhereController, switchToHttp: () => ({ getRequest: () => req, getResponse: () => ({}) }) };
    expect(guard.canActivate(context as unknown as ExecutionContext)).toBe(true);
    expect(req.user).toEqual({ id: 'acct-bob', name: 'Alice' });
  });

  it('an async mapUser: its resolved value is the user', async () => {
    const app = await boot({ mapUser: async (claims) => ({ id: claims.sub, name: await Promise.resolve('Async') }) });
    await get(app, '/where', issuer.sign({ sub: 'carol' })).expect(200, { user: { id: 'carol', name: 'Async' }, account: null, current: { id: 'carol', name: 'Async' }, name: 'Async' });
  });

  it('a mapUser that throws (sync or async) or returns no user: 401 invalid_token; a throw logged at error level by name, not message', async () => {
    const errors = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    const outcomes: Array<() => unknown> = [
      () => {
        throw new TypeError('account alice@example.com missing');
      },
      () => Promise.reject(new SyntaxError('db said alice@example.com')),
      () => null,
      () => undefined,
      async () => null,
      () => false,
    ];
    let next = 0;
    const app = await boot({ mapUser: () => outcomes[next++]() });
    for (let i = 0; i < outcomes.length; i++) {
      const res = await get(app, '/where', issuer.sign()).expect(401);
      expect(res.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
      expect(res.text).not.toContain('alice');
    }
    const lines = errors.mock.calls.map((c) => String(c[0]));
    errors.mockRestore();
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain('mapUser threw TypeError');
    expect(lines[1]).toContain('mapUser threw SyntaxError');
    expect(lines.join()).not.toContain('alice');
    // An invalid token never reaches mapUser.
    await get(app, '/where', 'a.b.c').expect(401);
    expect(next).toBe(outcomes.length);
  });

  it("PassportModule.register({ property: 'account' }): the user is written there, not to request.user, and @CurrentUser() reads it", async () => {
    const app = await boot({}, [PassportModule.register({ property: 'account' })]);
    const res = await get(app, '/where', issuer.sign({ sub: 'dave', name: 'Dave' })).expect(200);
    expect(res.body).toMatchObject({ user: null, account: { sub: 'dave' }, current: { sub: 'dave' }, name: 'Dave' });
  });

  it('userProperty with mapUser and globalGuard: the global guard writes there too', async () => {
    const app = await boot({ globalGuard: true, userProperty: 'account', mapUser: (claims) => ({ id: claims.sub }) });
    await get(app, '/where/global').expect(401);
    await get(app, '/where/global', issuer.sign({ sub: 'erin' })).expect(200, { user: null, account: { id: 'erin' }, current: { id: 'erin' } });
  });

  it('without options the claims are request.user, as before', async () => {
    const app = await boot({});
    const res = await get(app, '/where', issuer.sign({ sub: 'frank', name: 'Frank' })).expect(200);
    expect(res.body).toMatchObject({ user: { sub: 'frank' }, account: null, current: { sub: 'frank' }, name: 'Frank' });
  });
});
