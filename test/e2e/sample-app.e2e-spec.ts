import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { AppModule } from '../../sample-app/app.module';
import { startDevIssuer, tryItLines } from '../../sample-app/dev-issuer';
import type { TestIssuer } from '../../lib/testing';

describe('sample-app against its embedded dev issuer', () => {
  let issuer: TestIssuer;
  let app: INestApplication;
  const saved = { ...process.env };

  beforeAll(async () => {
    issuer = await startDevIssuer();
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.init();
  });
  afterAll(async () => {
    await app.close();
    await issuer.close();
    process.env = saved;
  });

  it('serves the public route, refuses /profile without a token and accepts a dev-issuer token', async () => {
    const http = request(app.getHttpServer());
    await http.get('/').expect(200);
    await http.get('/profile').expect(401);
    const res = await http.get('/profile').set('Authorization', `Bearer ${issuer.sign({ sub: 'alice' })}`).expect(200);
    expect(res.body.sub).toBe('alice');
  });

  type GqlBody = { data: Record<string, unknown> | null; errors?: { path?: string[]; extensions?: { code?: string } }[] };
  const graphql = (query: string, token?: string) => {
    const req = request(app.getHttpServer()).post('/graphql').set('Content-Type', 'application/json');
    return (token === undefined ? req : req.set('Authorization', `Bearer ${token}`)).send({ query });
  };
  /** A refusal on a resolver: a GraphQL error on the field with this code, no data, HTTP 200 (Apollo's default). */
  const expectRefused = (res: request.Response, field: string, code: string) => {
    const body = res.body as GqlBody;
    expect(res.status).toBe(200);
    expect(body.data).toBeNull();
    expect(body.errors).toHaveLength(1);
    expect(body.errors?.[0]).toMatchObject({ path: [field], extensions: { code } });
  };

  it('answers the GraphQL me query with @CurrentUser claims for a token with read:profile or profile (@Scopes.any)', async () => {
    const ok = await graphql('{ me { sub scopes } }', issuer.sign({ sub: 'alice', scope: 'read:profile' })).expect(200);
    expect(ok.body).toEqual({ data: { me: { sub: 'alice', scopes: ['read:profile'] } } });
    const oidc = await graphql('{ me { sub scopes } }', issuer.sign({ sub: 'bob', scope: 'openid profile' })).expect(200);
    expect(oidc.body).toEqual({ data: { me: { sub: 'bob', scopes: ['openid', 'profile'] } } });
    expectRefused(await graphql('{ me { sub } }', issuer.sign({ sub: 'carol', scope: 'openid email' })), 'me', 'FORBIDDEN');
    expectRefused(await graphql('{ me { sub } }'), 'me', 'UNAUTHENTICATED');
    expectRefused(await graphql('{ me { sub } }', issuer.sign({ sub: 'alice', scope: 'read:profile', exp: Math.floor(Date.now() / 1000) - 60 })), 'me', 'UNAUTHENTICATED');
  });

  it('answers the GraphQL keySet query only for the admin role (@Roles), whatever the scopes', async () => {
    expectRefused(await graphql('{ keySet { phase } }', issuer.sign({ sub: 'alice', scope: 'read:profile jwks:admin' })), 'keySet', 'FORBIDDEN');
    expectRefused(await graphql('{ keySet { phase } }', issuer.sign({ sub: 'eve', roles: ['administrator'] })), 'keySet', 'FORBIDDEN');
    const ok = await graphql('{ keySet { phase keyCount revokedKids } }', issuer.sign({ sub: 'ops', roles: ['admin'] })).expect(200);
    expect(ok.body).toEqual({ data: { keySet: { phase: 'fresh', keyCount: 2, revokedKids: [] } } });
  });

  it('answers every printed curl command as its comment says', async () => {
    const lines = tryItLines(issuer, 'http://127.0.0.1:3000');
    const tokens = new Map<string, string>();
    for (const line of lines) {
      const assignment = /^ {2}([A-Z_]+)=(\S+)/.exec(line);
      if (assignment) tokens.set(assignment[1], assignment[2]);
    }
    expect([...tokens.keys()]).toEqual(['TOKEN', 'ADMIN_TOKEN', 'EXPIRED_TOKEN']);
    const curls = lines.filter((line) => line.trimStart().startsWith('curl '));
    expect(curls.length).toBeGreaterThanOrEqual(10);
    const http = request(app.getHttpServer());
    for (const line of curls) {
      const [command, answer] = line.trim().split(/\s+# /);
      const path = new URL(/(http:\/\/\S+)/.exec(command)![1]).pathname;
      const body = /-d '([^']*)'/.exec(command)?.[1];
      const method = /-X (\w+)/.exec(command)?.[1] ?? (body === undefined ? 'GET' : 'POST');
      const bearer = /Bearer \$(\w+)/.exec(command)?.[1];
      let req = method === 'POST' ? http.post(path) : http.get(path);
      if (bearer !== undefined) req = req.set('Authorization', `Bearer ${tokens.get(bearer)!}`);
      if (body !== undefined) req = req.set('Content-Type', /Content-Type: ([^"]+)/.exec(command)![1]).send(body);
      const res = await req;
      const status = /^(\d{3})\b/.exec(answer)?.[1];
      if (status !== undefined) expect({ line, status: res.status }).toEqual({ line, status: Number(status) });
      else if (answer.startsWith('{')) expect({ line, body: res.body as unknown }).toEqual({ line, body: JSON.parse(answer) });
      else if (answer.startsWith('FORBIDDEN')) expectRefused(res, /\{ (\w+)/.exec(JSON.parse(body!).query)![1], 'FORBIDDEN');
      else throw new Error(`the comment of ${line} says nothing a test can check`);
      const then = /then alice's (\S+) answers (\d{3})/.exec(answer);
      if (then) await http.get(then[1]).set('Authorization', `Bearer ${tokens.get('TOKEN')!}`).expect(Number(then[2]));
    }
  });

  it('reports health and lets only jwks:admin tokens refresh the key set', async () => {
    const http = request(app.getHttpServer());
    await http.get('/health').expect(200);
    expect((await http.get('/health/ready').expect(200)).body.info.jwks.status).toBe('up');
    expect((await http.get('/health/live').expect(200)).body.info.jwks.status).toBe('up');
    const refused = await http.post('/admin/jwks/refresh').set('Authorization', `Bearer ${issuer.sign({ scope: 'read' })}`).expect(403);
    expect(refused.headers['www-authenticate']).toBe('Bearer error="insufficient_scope", scope="jwks:admin"');
    const before = issuer.requestCount;
    const res = await http.post('/admin/jwks/refresh').set('Authorization', `Bearer ${issuer.sign({ scope: 'jwks:admin' })}`).expect(200);
    expect(issuer.requestCount).toBe(before + 1);
    expect(res.body).toMatchObject({ phase: 'fresh', keyCount: 2 }); // the users' key and the dev admin key
  });

  it('lets an admin revoke a key at once and restore it', async () => {
    const http = request(app.getHttpServer());
    const first = issuer.kid;
    const user = `Bearer ${issuer.sign({ sub: 'alice' })}`;
    // the admin's token is signed with a second published key, which stays trusted
    const admin = `Bearer ${issuer.sign({ scope: 'jwks:admin' }, { kid: issuer.addKey() })}`;
    await http.get('/profile').set('Authorization', user).expect(200);
    const revoked = await http.post(`/admin/jwks/revoke/${first}`).set('Authorization', admin).expect(200);
    expect(revoked.body.revokedKids).toEqual([first]);
    await http.get('/profile').set('Authorization', user).expect(401);
    await http.post('/admin/jwks/revoke/bad%20kid').set('Authorization', admin).expect(400);
    await http.post(`/admin/jwks/restore/${first}`).set('Authorization', admin).expect(200);
    await http.get('/profile').set('Authorization', user).expect(200);
  });

  it('answers 429 with Retry-After instead of refreshing while the IdP asks us to wait', async () => {
    const http = request(app.getHttpServer());
    const admin = `Bearer ${issuer.sign({ scope: 'jwks:admin' })}`;
    issuer.queueFaults({ status: 429, headers: { 'retry-after': '600' } });
    await http.post('/admin/jwks/refresh').set('Authorization', admin).expect(200); // this one meets the 429
    const before = issuer.requestCount;
    for (let i = 0; i < 20; i++) {
      const res = await http.post('/admin/jwks/refresh').set('Authorization', admin).expect(429);
      expect(Number(res.headers['retry-after'])).toBeGreaterThan(590);
    }
    expect(issuer.requestCount).toBe(before);
  });
});
