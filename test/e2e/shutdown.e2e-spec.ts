import type { JwksFetchRequest } from '../../lib';
import { JwksFetchError } from '../../lib';
import { httpJwksFetcher } from '../../lib/fetch/jwks.fetcher';
import { JwksCacheService } from '../../lib/services/jwks-cache.service';
import { resolveJwksOptions } from '../../lib/options/options.validator';
import { FakeClock, TestIssuer } from '../../lib/testing';

describe('shutting down while the IdP hangs', () => {
  let issuer: TestIssuer;
  beforeEach(async () => {
    issuer = await TestIssuer.start();
    issuer.setFault({ delayMs: 60_000 });
  });
  afterEach(() => issuer.close());

  it('the HTTP fetcher ends a hanging request as soon as its signal aborts, saying why', async () => {
    const abort = new AbortController();
    const request: JwksFetchRequest = { uri: issuer.jwksUri, etag: null, timeoutMs: 60_000, maxResponseBytes: 1024, now: Date.now(), signal: abort.signal };
    const pending = httpJwksFetcher(request).catch((e: unknown) => e);
    while (issuer.requestCount === 0) await new Promise((r) => setTimeout(r, 5));
    abort.abort();
    const err = await pending; // without the signal this would hang for the whole 60-s timeout
    expect(err).toBeInstanceOf(JwksFetchError);
    expect((err as JwksFetchError).message).toMatch(/shutting down/);
  });

  it('the HTTP fetcher also ends a body still arriving when its signal aborts, saying cancelled, not timed out', async () => {
    issuer.setFault({ trickle: true, trickleMs: 20 });
    const abort = new AbortController();
    const request: JwksFetchRequest = { uri: issuer.jwksUri, etag: null, timeoutMs: 60_000, maxResponseBytes: 1024 * 1024, now: Date.now(), signal: abort.signal };
    const pending = httpJwksFetcher(request).catch((e: unknown) => e);
    while (issuer.streamedBytes < 2) await new Promise((r) => setTimeout(r, 5));
    abort.abort();
    const err = await pending;
    expect(err).toBeInstanceOf(JwksFetchError);
    expect(err).toMatchObject({ kind: 'network' });
    expect((err as JwksFetchError).message).toMatch(/JWKS body cancelled: the key set is shutting down/);
  });

  it('close() cancels the warm-up fetch still in flight, and logs no failure for it', async () => {
    const options = resolveJwksOptions({ issuer: issuer.issuer, jwksUri: issuer.jwksUri, audience: issuer.audience, warmupTimeoutMs: 100, fetch: { timeoutMs: 60_000 } });
    const clock = new FakeClock();
    let seen: AbortSignal | undefined;
    const svc = new JwksCacheService(options, clock, (req) => {
      seen = req.signal;
      return httpJwksFetcher(req);
    });
    const boot = svc.onApplicationBootstrap();
    await clock.advance(100);
    await boot;
    expect(svc.getState().fetching).toBe(true);
    await svc.onApplicationShutdown();
    expect(seen?.aborted).toBe(true);
    while (svc.getState().fetching) await new Promise((r) => setTimeout(r, 5));
    expect(svc.getState()).toMatchObject({ consecutiveFailures: 0, lastError: null });
  });
});
