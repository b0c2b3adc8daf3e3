import { ForbiddenException, HttpException, IntrinsicException, Logger, ServiceUnavailableException, UnauthorizedException } from '@nestjs/common';
import { jest } from '@jest/globals';
import { WsException } from '@nestjs/websockets';
import { KeySetUnavailableError, TokenMalformedError, TokenMissingError } from '../../lib';
import { JwksWsRefusal, websocketsPeer, wsRefusal } from '../../lib/transports/ws.refusal';
import { wsTokenReader } from '../../lib/transports/ws.token';
import { rememberUpgradeRequest } from '../../lib/transports/ws-upgrade.registry';

/** What socket.io hands the guard: a Socket with its handshake and Node's request (rawHeaders kept). */
function socketIo(auth: unknown, headers: Record<string, string> = {}, rawHeaders: string[] = Object.entries(headers).flat(), url = '/socket.io/?EIO=4&transport=websocket') {
  return { handshake: { auth, headers, url, query: {} }, request: { headers, rawHeaders, url } };
}
/** What `ws` hands the guard: a WebSocket (no handshake; its upgrade request recorded apart). */
function wsClient(request?: { headers: Record<string, string>; rawHeaders?: string[]; url?: string }) {
  const client = { readyState: 1, send: () => undefined };
  if (request) rememberUpgradeRequest(client, { rawHeaders: Object.entries(request.headers).flat(), url: '/', ...request });
  return client;
}

describe('wsTokenReader', () => {
  const noExtractorError = () => {
    throw new Error('no extractor should throw here');
  };
  const byDefault = wsTokenReader(null, noExtractorError);

  it('socket.io default: auth.token (raw or Bearer), else the Authorization bearer; never an inherited field', () => {
    expect(byDefault(socketIo({ token: 'a.b.c' }))).toBe('a.b.c');
    expect(byDefault(socketIo({ token: 'bearer a.b.c' }))).toBe('a.b.c');
    expect(byDefault(socketIo({}, { authorization: 'Bearer h.h.h' }))).toBe('h.h.h');
    expect(byDefault(socketIo({ token: '' }, { authorization: 'Bearer h.h.h' }))).toBe('h.h.h');
    expect(byDefault(socketIo(Object.create({ token: 'inherited' }), { authorization: 'Bearer h.h.h' }))).toBe('h.h.h');
    expect(() => byDefault(socketIo(Object.create({ token: 'inherited' })))).toThrow(TokenMissingError);
  });

  it('socket.io: a present but unusable auth.token is malformed, not replaced by the header', () => {
    for (const bad of [1, true, {}, ['a.b.c'], 'Bearer', 'Bearer a b', 'x'.repeat(33 * 1024)]) {
      expect(() => byDefault(socketIo({ token: bad }, { authorization: 'Bearer h.h.h' }))).toThrow(TokenMalformedError);
    }
  });

  it('refuses an Authorization header sent twice (rawHeaders), as over HTTP', () => {
    const client = socketIo({}, { authorization: 'Bearer one.one.one' }, ['Authorization', 'Bearer one.one.one', 'authorization', 'Bearer two.two.two']);
    expect(() => byDefault(client)).toThrow(TokenMalformedError);
  });

  it('ws default: the recorded upgrade request; none recorded is a missing token, warned once', () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      expect(byDefault(wsClient({ headers: { authorization: 'Bearer w.w.w' } }))).toBe('w.w.w');
      const reader = wsTokenReader(null, noExtractorError);
      expect(() => reader(wsClient())).toThrow(TokenMissingError);
      expect(() => reader(wsClient())).toThrow(TokenMissingError);
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0][0])).toContain('attach(server)');
    } finally {
      warn.mockRestore();
    }
  });

  it('records a ws upgrade request once: a later call cannot swap it', () => {
    const client = wsClient({ headers: { authorization: 'Bearer first.a.b' } });
    rememberUpgradeRequest(client, { headers: { authorization: 'Bearer second.a.b' }, rawHeaders: [] });
    expect(byDefault(client)).toBe('first.a.b');
  });

  it('configured sources read only what they name', () => {
    const auth = wsTokenReader({ from: 'auth', name: 'jwt' }, noExtractorError);
    expect(auth(socketIo({ jwt: 'j.j.j', token: 't.t.t' }))).toBe('j.j.j');
    expect(() => auth(socketIo({ token: 't.t.t' }))).toThrow(TokenMissingError);
    expect(() => auth(wsClient({ headers: {} }))).toThrow(TokenMissingError);

    const header = wsTokenReader({ from: 'header', name: 'x-api-token', scheme: null }, noExtractorError);
    expect(header(socketIo({ token: 't.t.t' }, { 'x-api-token': 'x.x.x' }))).toBe('x.x.x');
    expect(header(wsClient({ headers: { 'x-api-token': 'x.x.x' } }))).toBe('x.x.x');
    expect(() => header(socketIo({ token: 't.t.t' }))).toThrow(TokenMissingError);

    const query = wsTokenReader({ from: 'query', name: 'access_token' }, noExtractorError);
    expect(query(socketIo({}, {}, [], '/socket.io/?EIO=4&access_token=q.q.q'))).toBe('q.q.q');
    expect(query(wsClient({ headers: {}, url: '/?access_token=q.q.q' }))).toBe('q.q.q');
    expect(() => query(wsClient({ headers: {}, url: '/?access_token=1&access_token=2' }))).toThrow(TokenMalformedError);
  });

  it('a function source gets the client; a throw is reported and refused as malformed', () => {
    const errors: unknown[] = [];
    const reader = wsTokenReader({ from: 'function', extract: (c: { id?: string }) => c.id ?? null }, (e) => errors.push(e));
    expect(reader({ id: 'f.f.f' })).toBe('f.f.f');
    expect(() => reader({})).toThrow(TokenMissingError);
    const throwing = wsTokenReader({ from: 'function', extract: () => { throw new TypeError('bug'); } }, (e) => errors.push(e));
    expect(() => throwing({})).toThrow(TokenMalformedError);
    expect(errors).toEqual([expect.any(TypeError)]);
  });
});

describe('wsRefusal', () => {
  it('without @nestjs/websockets loaded: an IntrinsicException carrying the body (no crash, no error log), and starts the load', async () => {
    expect(websocketsPeer.get()).toBeUndefined();
    const refusal = wsRefusal(new UnauthorizedException(), new TokenMissingError('none'));
    expect(refusal).toBeInstanceOf(JwksWsRefusal);
    expect(refusal).toBeInstanceOf(IntrinsicException);
    expect((refusal as JwksWsRefusal).getError()).toEqual({ status: 'error', message: 'Unauthorized', code: 'UNAUTHENTICATED' });
    await websocketsPeer.preload();
    expect(websocketsPeer.get()).toBeDefined();
  });

  it("once loaded: the app's own WsException with the body; 503 carries retryAfter in whole seconds", async () => {
    await websocketsPeer.preload();
    const unauthorized = wsRefusal(new UnauthorizedException(), null);
    expect(unauthorized).toBeInstanceOf(WsException);
    expect((unauthorized as WsException).getError()).toEqual({ status: 'error', message: 'Unauthorized', code: 'UNAUTHENTICATED' });
    expect((wsRefusal(new ForbiddenException(), null) as WsException).getError()).toEqual({ status: 'error', message: 'Forbidden', code: 'FORBIDDEN' });
    expect((wsRefusal(new ServiceUnavailableException(), new KeySetUnavailableError('down', 2_500)) as WsException).getError()).toEqual({
      status: 'error',
      message: 'Service Unavailable',
      code: 'SERVICE_UNAVAILABLE',
      retryAfter: 3,
    });
    expect((wsRefusal(new ServiceUnavailableException(), null) as WsException).getError()).toEqual({ status: 'error', message: 'Service Unavailable', code: 'SERVICE_UNAVAILABLE' });
  });

  it('passes through what it does not map: another status, or not an HttpException', () => {
    const teapot = new HttpException('teapot', 418);
    expect(wsRefusal(teapot, null)).toBe(teapot);
    const bug = new TypeError('x');
    expect(wsRefusal(bug, null)).toBe(bug);
  });
});
