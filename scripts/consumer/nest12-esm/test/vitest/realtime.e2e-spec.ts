import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClientProxy } from '@nestjs/microservices';
import { firstValueFrom } from 'rxjs';
import type { Socket } from 'socket.io-client';
import { connect, connectError, next, startRealtimeApp, tcpClient, type RealtimeApp } from '../realtime.js';

describe('socket.io gateway and TCP messages protected by nestjs-jwks-auth (NestJS 12, ESM, Vitest)', () => {
  let realtime: RealtimeApp;
  let client: ClientProxy;
  const sockets: Socket[] = [];
  const clients: ClientProxy[] = [];

  beforeAll(async () => {
    realtime = await startRealtimeApp();
    client = await tcpClient(realtime.tcpPort);
    clients.push(client);
  });

  afterAll(async () => {
    for (const socket of sockets) socket.disconnect();
    for (const c of clients) await c.close();
    await realtime?.app.close();
    await realtime?.issuer.close();
  });

  function socket(token?: string): Socket {
    const s = connect(realtime.url, token);
    sockets.push(s);
    return s;
  }

  it('answers a guarded socket.io message with @CurrentUser("sub") for a valid token', async () => {
    const s = socket(realtime.issuer.sign({ sub: 'alice', scope: 'chat:write' }));
    const reply = next(s, 'me', 'exception');
    s.emit('whoami');
    expect(await reply).toEqual({ event: 'me', data: 'alice' });
  });

  it("refuses a socket.io client without a token at connect: connect_error with code 'UNAUTHENTICATED'", async () => {
    const err = await connectError(socket());
    expect(err.message).toBe('Unauthorized');
    expect(err.data).toEqual({ status: 'error', message: 'Unauthorized', code: 'UNAUTHENTICATED' });
  });

  it("refuses a guarded socket.io message for a missing scope: 'exception' with code 'FORBIDDEN'", async () => {
    const s = socket(realtime.issuer.sign({ sub: 'bob', scope: 'chat:read' }));
    const reply = next(s, 'me', 'exception');
    s.emit('whoami');
    expect(await reply).toEqual({ event: 'exception', data: { status: 'error', message: 'Forbidden', code: 'FORBIDDEN' } });
  });

  it('answers a guarded TCP message with @CurrentUser("sub") for a token in the payload headers', async () => {
    const token = realtime.issuer.sign({ sub: 'carol', scope: 'orders:read' });
    const sub = await firstValueFrom(client.send<string>('orders.whoami', { headers: { authorization: `Bearer ${token}` } }));
    expect(sub).toBe('carol');
  });

  it('answers a guarded TCP message for a token the client puts in the packet metadata (setOnDispatchHook)', async () => {
    const withHook = await tcpClient(realtime.tcpPort, realtime.issuer.sign({ sub: 'erin', scope: 'orders:read' }));
    clients.push(withHook);
    expect(await firstValueFrom(withHook.send<string>('orders.whoami', { page: 1 }))).toBe('erin');
  });

  it("refuses a TCP message without a token with code 'UNAUTHENTICATED', not 'Internal server error'", async () => {
    await expect(firstValueFrom(client.send('orders.whoami', { page: 1 }))).rejects.toEqual({
      status: 'error',
      message: 'Unauthorized',
      code: 'UNAUTHENTICATED',
    });
  });

  it("refuses a TCP message for a missing scope with code 'FORBIDDEN'", async () => {
    const token = realtime.issuer.sign({ sub: 'dave', scope: 'orders:write' });
    await expect(firstValueFrom(client.send('orders.whoami', { headers: { authorization: `Bearer ${token}` } }))).rejects.toEqual({
      status: 'error',
      message: 'Forbidden',
      code: 'FORBIDDEN',
    });
  });
});
