/**
 * Attacks on the microservices transport: a real TCP microservice and the metadata readers of the
 * other transports fed their real Nest context classes. A failing test is a finding.
 * (Copied from the attack branch; the 100k-key payload case added with the fix.)
 */
import { NatsContext, TcpContext } from '@nestjs/microservices';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { JwksAuthModule } from '../../lib';
import { TestIssuer } from '../../lib/testing';
import { compileMicroserviceTokenSource } from '../../lib/transports/rpc-token.source';
import { microservicesPeer } from '../../lib/transports/microservices.peer';
import { issuerOptions } from '../fixtures/app';
import { TcpDriver } from '../fixtures/transports/tcp.driver';

const rpcContext = (data: unknown, ctx: unknown) => {
  const host = new ExecutionContextHost([data, ctx]);
  host.setType('rpc');
  return host;
};

/** nats.js `MsgHdrsImpl` semantics: keys kept as sent, `values(k)` exact match (its default). */
function natsHeaders(entries: Array<[string, string]>) {
  return {
    values: (k: string) => entries.filter(([n]) => n === k).map(([, v]) => v),
    get: (k: string) => entries.find(([n]) => n === k)?.[1] ?? '',
  };
}

describe('attack: microservices transport', () => {
  let issuer: TestIssuer;
  beforeAll(async () => {
    issuer = await TestIssuer.start();
    await microservicesPeer.preload();
  });
  afterAll(async () => {
    await issuer.close();
  });

  describe('TCP, default token source', () => {
    let driver: TcpDriver;
    beforeAll(async () => {
      driver = new TcpDriver();
      await driver.start([JwksAuthModule.forRoot(issuerOptions(issuer))]);
    });
    afterAll(async () => {
      await driver.close();
    });

    const refusedOrError = (data: unknown) =>
      driver.send('open', data).then(
        (reply) => ({ accepted: reply }),
        (err: unknown) => ({ refused: (err as { code?: unknown }).code }),
      );

    it('refuses a payload whose headers carry authorization and Authorization naming two users (metadata refuses the same pair)', async () => {
      const alice = issuer.sign({ sub: 'alice' });
      const mallory = issuer.sign({ sub: 'mallory' });
      expect(await refusedOrError({ headers: { authorization: `Bearer ${alice}`, Authorization: `Bearer ${mallory}` } })).toEqual({ refused: 'UNAUTHENTICATED' });
    });

    it('refuses packet metadata naming one user while the payload Authorization (other case) names another', async () => {
      const client = driver.client as unknown as { setOnDispatchHook?: (hook: ((packet: { metadata?: unknown }) => void) | undefined) => void };
      if (typeof client.setOnDispatchHook !== 'function') return;
      const alice = issuer.sign({ sub: 'alice' });
      client.setOnDispatchHook((packet) => {
        packet.metadata = { authorization: `Bearer ${alice}` };
      });
      try {
        expect(await refusedOrError({ headers: { Authorization: `Bearer ${issuer.sign({ sub: 'mallory' })}` } })).toEqual({ refused: 'UNAUTHENTICATED' });
      } finally {
        client.setOnDispatchHook((packet) => {
          delete packet.metadata;
        });
      }
    });

    it('refuses a payload whose headers carry 100k keys as malformed, and keeps answering', async () => {
      const headers: Record<string, string> = {};
      for (let i = 0; i < 100_000; i++) headers[`x-h${i}`] = 'v';
      headers.authorization = `Bearer ${issuer.sign({ sub: 'alice' })}`;
      expect(await refusedOrError({ headers })).toEqual({ refused: 'UNAUTHENTICATED' });
      expect(await refusedOrError({ headers: { authorization: `Bearer ${issuer.sign({ sub: 'alice' })}` } })).toEqual({ accepted: { sub: 'alice' } });
    });

    it('survives a flood of refused messages on one connection without error logs or unbounded growth', async () => {
      const before = process.memoryUsage().heapUsed;
      const all: Promise<unknown>[] = [];
      for (let i = 0; i < 3_000; i++) all.push(refusedOrError({ headers: { authorization: `Bearer x.${i}.y` } }));
      const results = await Promise.all(all);
      expect(results.every((r) => (r as { refused?: unknown }).refused === 'UNAUTHENTICATED')).toBe(true);
      global.gc?.();
      expect(process.memoryUsage().heapUsed - before).toBeLessThan(64 * 1024 * 1024);
    });
  });

  describe('NATS headers (real NatsContext, nats.js header semantics)', () => {
    const read = compileMicroserviceTokenSource(null, () => undefined);
    it('refuses authorization and Authorization headers naming two users (as Kafka/RMQ/MQTT/TCP metadata do)', () => {
      const alice = issuer.sign({ sub: 'alice' });
      const mallory = issuer.sign({ sub: 'mallory' });
      const ctx = new NatsContext(['orders.get', natsHeaders([['authorization', `Bearer ${alice}`], ['Authorization', `Bearer ${mallory}`]])] as never);
      expect(() => read(rpcContext({}, ctx), undefined)).toThrow();
    });

    it('(control) reads the token of a single Authorization header', () => {
      const alice = issuer.sign({ sub: 'alice' });
      const ctx = new NatsContext(['orders.get', natsHeaders([['Authorization', `Bearer ${alice}`]])] as never);
      expect(read(rpcContext({}, ctx), undefined)).toBe(alice);
    });

    it('(control) TCP packet metadata refuses the same pair', () => {
      const ctx = new TcpContext([{} as never, 'open', { authorization: 'Bearer a.b.c', Authorization: 'Bearer d.e.f' }] as never);
      expect(() => read(rpcContext({}, ctx), undefined)).toThrow();
    });
  });
});
