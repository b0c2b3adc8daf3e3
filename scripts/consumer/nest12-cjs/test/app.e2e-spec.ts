import assert from 'node:assert/strict';
import type { AddressInfo, Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { INestApplication } from '@nestjs/common';
import { ClientProxyFactory, Transport, type ClientProxy } from '@nestjs/microservices';
import { Test } from '@nestjs/testing';
import { TestIssuer } from 'nestjs-jwks-auth/testing';
import { firstValueFrom } from 'rxjs';
import { io, type Socket } from 'socket.io-client';
import request from 'supertest';
import { AppModule } from '../src/app.module';
import { RealtimeModule } from '../src/realtime.module';

describe(`app protected by nestjs-jwks-auth (NestJS 12, CommonJS, Node ${process.version})`, () => {
  let issuer: TestIssuer;
  let app: INestApplication;

  before(async () => {
    issuer = await TestIssuer.start();
    process.env.JWKS_ISSUER = issuer.issuer;
    process.env.JWKS_URI = issuer.jwksUri;
    process.env.JWKS_AUDIENCE = issuer.audience;
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
    app = moduleRef.createNestApplication();
    await app.init();
  });

  after(async () => {
    await app?.close();
    await issuer?.close();
  });

  it('answers 200 with the claims for a valid token', async () => {
    const res = await request(app.getHttpServer()).get('/me').set('Authorization', `Bearer ${issuer.sign({ sub: 'alice' })}`);
    assert.equal(res.status, 200);
    assert.equal(res.body.sub, 'alice');
  });

  it('answers 401 with a Bearer challenge when the token is missing', async () => {
    const res = await request(app.getHttpServer()).get('/me');
    assert.equal(res.status, 401);
    assert.match(String(res.headers['www-authenticate']), /^Bearer/);
  });

  it("verifies through the Passport strategy 'jwks' too", async () => {
    const res = await request(app.getHttpServer()).get('/passport/me').set('Authorization', `Bearer ${issuer.sign({ sub: 'carol' })}`);
    assert.equal(res.status, 200);
    assert.equal(res.body.sub, 'carol');
  });
});

describe(`socket.io gateway and TCP messages protected by nestjs-jwks-auth (NestJS 12, CommonJS, Node ${process.version})`, () => {
  let issuer: TestIssuer;
  let app: INestApplication;
  let url: string;
  let client: ClientProxy;
  const sockets: Socket[] = [];

  /** A socket.io client of the app, connected (or refused) with this token. */
  function connect(token?: string): Socket {
    const socket = io(url, { auth: token === undefined ? {} : { token }, transports: ['websocket'], reconnection: false, forceNew: true });
    sockets.push(socket);
    return socket;
  }

  /** Resolves with the first of `events` the socket gets, and that event's argument. */
  function next(socket: Socket, ...events: string[]): Promise<{ event: string; data: unknown }> {
    return new Promise((resolve) => {
      for (const event of events) socket.once(event, (data: unknown) => resolve({ event, data }));
    });
  }

  before(async () => {
    issuer = await TestIssuer.start();
    process.env.JWKS_ISSUER = issuer.issuer;
    process.env.JWKS_URI = issuer.jwksUri;
    process.env.JWKS_AUDIENCE = issuer.audience;
    const moduleRef = await Test.createTestingModule({ imports: [AppModule, RealtimeModule] }).compile();
    app = moduleRef.createNestApplication();
    const microservice = app.connectMicroservice({ transport: Transport.TCP, options: { host: '127.0.0.1', port: 0 } });
    await app.startAllMicroservices();
    await app.listen(0, '127.0.0.1');
    url = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
    const tcpPort = (microservice.unwrap<Server>().address() as AddressInfo).port;
    client = ClientProxyFactory.create({ transport: Transport.TCP, options: { host: '127.0.0.1', port: tcpPort } });
    await client.connect();
  });

  after(async () => {
    for (const socket of sockets) socket.disconnect();
    await client?.close();
    await app?.close();
    await issuer?.close();
  });

  it('answers a guarded socket.io message with @CurrentUser("sub") for a valid token', async () => {
    const socket = connect(issuer.sign({ sub: 'alice', scope: 'chat:write' }));
    const reply = next(socket, 'me', 'exception');
    socket.emit('whoami');
    assert.deepEqual(await reply, { event: 'me', data: 'alice' });
  });

  it("refuses a socket.io client without a token at connect: connect_error with code 'UNAUTHENTICATED'", async () => {
    const socket = connect();
    const err = await new Promise<Error & { data?: unknown }>((resolve) => socket.once('connect_error', resolve));
    assert.equal(err.message, 'Unauthorized');
    assert.deepEqual(err.data, { status: 'error', message: 'Unauthorized', code: 'UNAUTHENTICATED' });
  });

  it("refuses a guarded socket.io message for a missing scope: 'exception' with code 'FORBIDDEN'", async () => {
    const socket = connect(issuer.sign({ sub: 'bob', scope: 'chat:read' }));
    const reply = next(socket, 'me', 'exception');
    socket.emit('whoami');
    assert.deepEqual(await reply, { event: 'exception', data: { status: 'error', message: 'Forbidden', code: 'FORBIDDEN' } });
  });

  it('answers a guarded TCP message with @CurrentUser("sub") for a valid token', async () => {
    const token = issuer.sign({ sub: 'carol', scope: 'orders:read' });
    assert.equal(await firstValueFrom(client.send<string>('orders.whoami', { headers: { authorization: `Bearer ${token}` } })), 'carol');
  });

  it("refuses a TCP message without a token with code 'UNAUTHENTICATED', not 'Internal server error'", async () => {
    await assert.rejects(firstValueFrom(client.send('orders.whoami', { page: 1 })), (err: unknown) => {
      assert.deepEqual(err, { status: 'error', message: 'Unauthorized', code: 'UNAUTHENTICATED' });
      return true;
    });
  });

  it("refuses a TCP message for a missing scope with code 'FORBIDDEN'", async () => {
    const token = issuer.sign({ sub: 'dave', scope: 'orders:write' });
    await assert.rejects(firstValueFrom(client.send('orders.whoami', { headers: { authorization: `Bearer ${token}` } })), (err: unknown) => {
      assert.deepEqual(err, { status: 'error', message: 'Forbidden', code: 'FORBIDDEN' });
      return true;
    });
  });
});
