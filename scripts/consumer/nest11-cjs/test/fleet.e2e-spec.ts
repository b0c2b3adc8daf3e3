import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { JwksCacheService } from 'nestjs-jwks-auth';
import { TestIssuer } from 'nestjs-jwks-auth/testing';
import request from 'supertest';
import { AppModule } from '../src/app.module';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** A throwaway redis-server on a free port (it must be on PATH). */
async function startRedis(): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.once('error', (err) => reject(new Error(`redis-server could not start (is it installed?): ${err.message}`)));
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('Ready to accept connections')) resolve();
    });
  });
  return { url: `redis://127.0.0.1:${port}`, child };
}

async function until(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return check();
}

describe('two instances in fleet mode (NestJS 11, CommonJS)', () => {
  let issuer: TestIssuer;
  let redis: { url: string; child: ChildProcess };
  const apps: INestApplication[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    issuer = await TestIssuer.start();
    process.env.JWKS_ISSUER = issuer.issuer;
    process.env.JWKS_URI = issuer.jwksUri;
    process.env.JWKS_AUDIENCE = issuer.audience;
    process.env.REDIS_URL = redis.url;
    for (let i = 0; i < 2; i++) {
      const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
      const app = moduleRef.createNestApplication();
      apps.push(app);
    }
    await Promise.all(apps.map((a) => a.init()));
  });

  afterAll(async () => {
    await Promise.all(apps.map((a) => a.close()));
    delete process.env.REDIS_URL;
    await issuer?.close();
    redis?.child.kill('SIGKILL');
  });

  it('fetches the key set once for both, and a revocation on one reaches the other', async () => {
    expect(issuer.requestCount).toBe(1);
    const token = issuer.sign({ sub: 'alice' });
    for (const app of apps) {
      expect(app.get(JwksCacheService).getState().fleet).toBe('joined');
      expect((await request(app.getHttpServer()).get('/me').set('Authorization', `Bearer ${token}`)).status).toBe(200);
    }
    apps[0].get(JwksCacheService).revokeKey(issuer.kid);
    const refused = await until(async () => (await request(apps[1].getHttpServer()).get('/me').set('Authorization', `Bearer ${token}`)).status === 401, 1_000);
    expect(refused).toBe(true);
    apps[1].get(JwksCacheService).restoreKey(issuer.kid);
    const accepted = await until(async () => (await request(apps[0].getHttpServer()).get('/me').set('Authorization', `Bearer ${token}`)).status === 200, 1_000);
    expect(accepted).toBe(true);
  });
});
