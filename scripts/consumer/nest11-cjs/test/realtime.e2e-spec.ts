import type { AddressInfo } from 'node:net';
import type { Server } from 'node:net';
import type { INestApplication } from '@nestjs/common';
import { ClientProxyFactory, Transport, type ClientProxy } from '@nestjs/microservices';
import { Test } from '@nestjs/testing';
import { TestIssuer } from 'nestjs-jwks-auth/testing';
import { firstValueFrom } from 'rxjs';
import { io, type Socket } from 'socket.io-client';
import { AppModule } from '../src/app.module';
import { RealtimeModule } from '../src/realtime.module';

/** A socket.io client of the app, connected (or refused) with this token. */
function connect(url: string, token?: string): Socket {
  return io(url, { auth: token === undefined ? {} : { token }, transports: ['websocket'], reconnection: false, forceNew: true });
}

/** Resolves with the first of `events` the socket gets, and that event's argument. */
function next(socket: Socket, ...events: string[]): Promise<{ event: string; data: any }> {
  return new Promise((resolve) => {
    for (const event of events) socket.once(event, (data: unknown) => resolve({ event, data }));
  });
}

describe('socket.io gateway and TCP messages protected by nestjs-jwks-auth (NestJS 11, CommonJS)', () => {
  let issuer: TestIssuer;
  let app: INestApplication;
  let url: string;
  let client: ClientProxy;
  const sockets: Socket[] = [];

  beforeAll(async () => {
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

  afterAll(async () => {
    for (const socket of sockets) socket.disconnect();
    await client?.close();
    await app?.close();
    await issuer?.close();
  });

  it('answers a guarded socket.io message with @CurrentUser("sub") for a valid token', async () => {
    const socket = connect(url, issuer.sign({ sub: 'alice', scope: 'chat:write' }));
    sockets.push(socket);
    const reply = next(socket, 'me', 'exception');
    socket.emit('whoami');
    expect(await reply).toEqual({ event: 'me', data: 'alice' });
  });

  it("refuses a socket.io client without a token at connect: connect_error with code 'UNAUTHENTICATED'", async () => {
    const socket = connect(url);
    sockets.push(socket);
    const err = await new Promise<Error & { data?: { code?: string } }>((resolve) => socket.once('connect_error', resolve));
    expect(err.message).toBe('Unauthorized');
    expect(err.data).toEqual({ status: 'error', message: 'Unauthorized', code: 'UNAUTHENTICATED' });
  });

  it("refuses a guarded socket.io message for a missing scope: 'exception' with code 'FORBIDDEN'", async () => {
    const socket = connect(url, issuer.sign({ sub: 'bob', scope: 'chat:read' }));
    sockets.push(socket);
    const reply = next(socket, 'me', 'exception');
    socket.emit('whoami');
    expect(await reply).toEqual({ event: 'exception', data: { status: 'error', message: 'Forbidden', code: 'FORBIDDEN' } });
  });

  it('answers a guarded TCP message with @CurrentUser("sub") for a valid token', async () => {
    const token = issuer.sign({ sub: 'carol', scope: 'orders:read' });
    const sub = await firstValueFrom(client.send<string>('orders.whoami', { headers: { authorization: `Bearer ${token}` } }));
    expect(sub).toBe('carol');
  });

  it("refuses a TCP message without a token with code 'UNAUTHENTICATED', not 'Internal server error'", async () => {
    await expect(firstValueFrom(client.send('orders.whoami', { page: 1 }))).rejects.toEqual({
      status: 'error',
      message: 'Unauthorized',
      code: 'UNAUTHENTICATED',
    });
  });

  it("refuses a TCP message for a missing scope with code 'FORBIDDEN'", async () => {
    const token = issuer.sign({ sub: 'dave', scope: 'orders:write' });
    await expect(firstValueFrom(client.send('orders.whoami', { headers: { authorization: `Bearer ${token}` } }))).rejects.toEqual({
      status: 'error',
      message: 'Forbidden',
      code: 'FORBIDDEN',
    });
  });
});
