import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Controller, Get, Injectable, Module, type INestApplication, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { HttpModule, HttpService } from '@nestjs/axios';
import { Test } from '@nestjs/testing';
import axios from 'axios';
import { inspect } from 'node:util';
import { firstValueFrom } from 'rxjs';
import request from 'supertest';
import { ClientCredentialsModule, ClientCredentialsService, attachClientCredentials, withClientCredentials } from '../../../lib';
import { FakeClock, TestIssuer } from '../../../lib/testing';
import { API, CLIENT_ID, CLIENT_SECRET, serviceFor } from './fixtures';

/** A downstream API on 127.0.0.1: answers 401 to the first `refuse` requests, then 200 with the token it saw. */
class Downstream {
  refuse = 0;
  readonly seen: string[] = [];
  readonly bodies: string[] = [];
  private server!: Server;
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.seen.push(req.headers.authorization ?? '');
        this.bodies.push(Buffer.concat(chunks).toString());
        const status = this.refuse > 0 ? 401 : 200;
        if (this.refuse > 0) this.refuse--;
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ status, auth: req.headers.authorization }));
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/api`;
    return this;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

describe('calling an API with client-credentials tokens', () => {
  let issuer: TestIssuer;
  let api: Downstream;
  let clock: FakeClock;
  let service: ClientCredentialsService;

  beforeEach(async () => {
    clock = new FakeClock(Date.now());
    issuer = await TestIssuer.start({ clock });
    issuer.addClient({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
    api = await new Downstream().start();
    service = serviceFor(issuer, clock).service;
  });
  afterEach(async () => {
    service.close();
    await api.close();
    await issuer.close();
  });

  describe('withClientCredentials (fetch)', () => {
    it('sends the bearer token; on a 401, refreshes once and retries once with the new token', async () => {
      api.refuse = 1;
      const call = withClientCredentials(service, { audience: API });
      const res = await call(api.url, { method: 'POST', body: 'payload', headers: { 'x-trace': '1' } });
      expect(res.status).toBe(200);
      expect(issuer.tokenRequestCount).toBe(2);
      expect(api.seen).toEqual([`Bearer ${issuer.issuedTokens[0]}`, `Bearer ${issuer.issuedTokens[1]}`]);
      expect(api.bodies).toEqual(['payload', 'payload']);
    });

    it('returns a second 401 instead of looping', async () => {
      api.refuse = 100;
      const res = await withClientCredentials(service)(api.url);
      expect(res.status).toBe(401);
      expect(api.seen).toHaveLength(2);
      expect(issuer.tokenRequestCount).toBe(2);
      // Within minInvalidateIntervalMs a 401 no longer costs a token request, nor a retry.
      expect((await withClientCredentials(service)(api.url)).status).toBe(401);
      expect(api.seen).toHaveLength(3);
      expect(issuer.tokenRequestCount).toBe(2);
    });

    it('replays a Request body, and does not retry a stream body it cannot replay', async () => {
      api.refuse = 1;
      const res = await withClientCredentials(service)(new Request(api.url, { method: 'PUT', body: 'again' }));
      expect(res.status).toBe(200);
      expect(api.bodies).toEqual(['again', 'again']);
      await clock.advance(60_000);
      api.refuse = 1;
      const stream = new ReadableStream({ start: (c) => (c.enqueue(new TextEncoder().encode('once')), c.close()) });
      const streamed = await withClientCredentials(service)(api.url, { method: 'POST', body: stream, duplex: 'half' } as RequestInit);
      expect(streamed.status).toBe(401);
      expect(api.bodies.slice(2)).toEqual(['once']);
    });
  });

  describe('attachClientCredentials (axios)', () => {
    it('on a plain axios instance: bearer token, one refresh and one retry on a 401, a second 401 is the caller’s', async () => {
      const client = axios.create();
      const detach = attachClientCredentials(client, service, { audience: API });
      api.refuse = 1;
      const ok = await client.post(api.url, { a: 1 });
      expect(ok.status).toBe(200);
      expect(api.seen).toEqual([`Bearer ${issuer.issuedTokens[0]}`, `Bearer ${issuer.issuedTokens[1]}`]);
      await clock.advance(60_000);
      api.refuse = 100;
      const err = await client.get(api.url).catch((e: { response?: { status: number } }) => e);
      expect((err as { response?: { status: number } }).response?.status).toBe(401);
      expect(api.seen).toHaveLength(4);
      // The error the app gets (and may well log whole) holds no token: not in its config's
      // headers, not in the request it made, not in its JSON. (This test API echoes the header it
      // got in its body: what an API answers is its own business, so the body is left out.)
      (err as unknown as { response: { data: unknown } }).response.data = '(the API body)';
      const shown = `${inspect(err, { depth: 8, showHidden: false })}\n${JSON.stringify(err)}`;
      for (const issued of issuer.issuedTokens) expect(shown).not.toContain(issued);
      expect(shown).toContain('Bearer [redacted]');
      expect((err as { response?: { request?: unknown } }).response?.request).toBeDefined();
      expect(issuer.tokenRequestCount).toBe(3);
      detach();
      await client.get(api.url).catch(() => undefined);
      expect(api.seen.at(-1)).toBe('');
    });
  });

  describe('a Nest app with HttpModule and ClientCredentialsModule.forRootAsync', () => {
    @Injectable()
    class ManagementApi implements OnModuleInit, OnModuleDestroy {
      // HttpModule's default axios instance is the process-wide one: detach when the module ends.
      private detach = (): void => undefined;
      constructor(
        private readonly http: HttpService,
        private readonly tokens: ClientCredentialsService,
      ) {}
      onModuleInit(): void {
        this.detach = attachClientCredentials(this.http, this.tokens);
      }
      onModuleDestroy(): void {
        this.detach();
      }
      async users(url: string): Promise<{ status: number; body?: unknown }> {
        try {
          const res = await firstValueFrom(this.http.get(url));
          return { status: res.status, body: res.data };
        } catch (err) {
          return { status: (err as { response?: { status: number } }).response?.status ?? 0 };
        }
      }
    }

    let app: INestApplication;
    let downstreamUrl = '';
    beforeEach(async () => {
      downstreamUrl = api.url;
      @Controller()
      class CallController {
        constructor(private readonly management: ManagementApi) {}
        @Get('call')
        call() {
          return this.management.users(downstreamUrl);
        }
      }
      @Module({
        imports: [
          HttpModule,
          ClientCredentialsModule.forRootAsync({
            useFactory: () => ({ tokenEndpoint: issuer.tokenEndpoint, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, audience: API, logging: false }),
          }),
        ],
        controllers: [CallController],
        providers: [ManagementApi],
      })
      class AppModule {}
      const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
      app = moduleRef.createNestApplication({ logger: false });
      await app.init();
    });
    afterEach(async () => {
      await app.close();
    });

    it('calls the API with a token, refreshing once and retrying once after a 401', async () => {
      api.refuse = 1;
      const res = await request(app.getHttpServer()).get('/call').expect(200);
      expect(res.body).toMatchObject({ status: 200, body: { status: 200 } });
      expect(issuer.tokenRequestCount).toBe(2);
      expect(api.seen).toHaveLength(2);
      expect(api.seen[1]).toBe(`Bearer ${issuer.issuedTokens[1]}`);
      // The next call uses the cached token.
      await request(app.getHttpServer()).get('/call').expect(200);
      expect(issuer.tokenRequestCount).toBe(2);
    });

    it('returns the second 401 instead of looping', async () => {
      api.refuse = 100;
      const res = await request(app.getHttpServer()).get('/call').expect(200);
      expect(res.body).toEqual({ status: 401 });
      expect(api.seen).toHaveLength(2);
      expect(issuer.tokenRequestCount).toBe(2);
    });
  });
});
