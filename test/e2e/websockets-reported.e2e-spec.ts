import type { AddressInfo } from 'node:net';
import { Logger, UseGuards, type INestApplication, type LoggerService } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { io, type Socket } from 'socket.io-client';
import { CurrentUser, JwksAuthGuard, JwksAuthModule } from '../../lib';
import { TestIssuer } from '../../lib/testing';
import { issuerOptions } from '../fixtures/app';

/**
 * The report: "a socket.io gateway answers 'Internal server error' with or without a token". The
 * plainest gateway a user writes (`@UseGuards(JwksAuthGuard)`, nothing else), a real socket.io
 * client presenting its token the socket.io way (`auth: { token }`).
 */
@WebSocketGateway()
@UseGuards(JwksAuthGuard)
class PlainGateway {
  @SubscribeMessage('whoami')
  whoami(@CurrentUser('sub') sub: unknown): { event: string; data: unknown } {
    return { event: 'me', data: sub };
  }
}

describe('a plain socket.io gateway behind JwksAuthGuard (the reported "Internal server error")', () => {
  let issuer: TestIssuer;
  let app: INestApplication;
  let url: string;
  const errors: unknown[] = [];
  const recorder: LoggerService = { log: () => undefined, warn: () => undefined, error: (m: unknown) => errors.push(m) };

  beforeAll(async () => {
    issuer = await TestIssuer.start();
    const moduleRef = await Test.createTestingModule({ imports: [JwksAuthModule.forRoot(issuerOptions(issuer))], providers: [PlainGateway] }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    app.useWebSocketAdapter(new IoAdapter(app));
    await app.listen(0, '127.0.0.1');
    url = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
    // Nest's exception filter logs through the static logger: record what it would print.
    Logger.overrideLogger(recorder);
  });
  afterAll(async () => {
    Logger.overrideLogger(false);
    await app.close();
    await issuer.close();
  });

  async function ask(token?: string): Promise<{ event: string; data: unknown }> {
    const socket: Socket = io(url, { transports: ['websocket'], reconnection: false, forceNew: true, ...(token === undefined ? {} : { auth: { token } }) });
    try {
      return await new Promise((resolve) => {
        const timer = setTimeout(() => resolve({ event: 'timeout', data: undefined }), 5000);
        socket.on('me', (data: unknown) => (clearTimeout(timer), resolve({ event: 'me', data })));
        socket.on('exception', (data: unknown) => (clearTimeout(timer), resolve({ event: 'exception', data })));
        socket.on('connect_error', (err: Error) => (clearTimeout(timer), resolve({ event: 'connect_error', data: err.message })));
        socket.emit('whoami', {});
      });
    } finally {
      socket.close();
    }
  }

  it('answers a valid handshake token, and @CurrentUser() sees its claims', async () => {
    expect(await ask(issuer.sign({ sub: 'alice' }))).toEqual({ event: 'me', data: 'alice' });
  });

  it('refuses a missing token with an UNAUTHENTICATED exception, not "Internal server error", and logs no error', async () => {
    errors.length = 0;
    const reply = await ask();
    expect(reply).toEqual({ event: 'exception', data: { status: 'error', message: 'Unauthorized', code: 'UNAUTHENTICATED' } });
    expect(errors).toEqual([]);
  });
});
