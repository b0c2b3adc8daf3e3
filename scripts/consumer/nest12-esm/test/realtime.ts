import type { AddressInfo, Server } from 'node:net';
import type { INestApplication } from '@nestjs/common';
import { ClientProxyFactory, Transport, type ClientProxy } from '@nestjs/microservices';
import { Test } from '@nestjs/testing';
import { TestIssuer } from 'nestjs-jwks-auth/testing';
import { io, type Socket } from 'socket.io-client';
import { AppModule } from '../src/app.module.js';

export interface RealtimeApp {
  app: INestApplication;
  issuer: TestIssuer;
  /** The HTTP server's URL, which the socket.io gateway shares. */
  url: string;
  /** The TCP microservice's port. */
  tcpPort: number;
}

/** The app as a hybrid: HTTP (with the gateway) and a TCP microservice, both on ephemeral ports of 127.0.0.1. */
export async function startRealtimeApp(): Promise<RealtimeApp> {
  const issuer = await TestIssuer.start();
  process.env.JWKS_ISSUER = issuer.issuer;
  process.env.JWKS_URI = issuer.jwksUri;
  process.env.JWKS_AUDIENCE = issuer.audience;
  const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
  const app = moduleRef.createNestApplication();
  const microservice = app.connectMicroservice({ transport: Transport.TCP, options: { host: '127.0.0.1', port: 0 } });
  await app.startAllMicroservices();
  await app.listen(0, '127.0.0.1');
  const url = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  const tcpPort = (microservice.unwrap<Server>().address() as AddressInfo).port;
  return { app, issuer, url, tcpPort };
}

/** A connected TCP client; `token` (when given) goes into every packet's metadata, as the README shows for NestJS 12. */
export async function tcpClient(port: number, token?: string): Promise<ClientProxy> {
  const client = ClientProxyFactory.create({ transport: Transport.TCP, options: { host: '127.0.0.1', port } });
  if (token !== undefined) {
    client.setOnDispatchHook((packet) => {
      packet.metadata = { authorization: `Bearer ${token}` };
    });
  }
  await client.connect();
  return client;
}

/** A socket.io client of the app, connected (or refused) with this token. */
export function connect(url: string, token?: string): Socket {
  return io(url, { auth: token === undefined ? {} : { token }, transports: ['websocket'], reconnection: false, forceNew: true });
}

/** Resolves with the first of `events` the socket gets, and that event's argument. */
export function next(socket: Socket, ...events: string[]): Promise<{ event: string; data: unknown }> {
  return new Promise((resolve) => {
    for (const event of events) socket.once(event, (data: unknown) => resolve({ event, data }));
  });
}

/** The error of the socket's `connect_error`. */
export function connectError(socket: Socket): Promise<Error & { data?: unknown }> {
  return new Promise((resolve) => socket.once('connect_error', resolve));
}
