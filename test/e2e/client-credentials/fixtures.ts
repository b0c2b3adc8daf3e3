import { resolveClientCredentialsOptions, type ClientCredentialsOptions } from '../../../lib/client-credentials/client-credentials.options';
import { ClientCredentialsService } from '../../../lib/client-credentials/client-credentials.service';
import type { ClientCredentialsEvent } from '../../../lib/client-credentials/client-credentials.events';
import type { ClientTokenStore } from '../../../lib/client-credentials/client-token.store';
import { FakeClock, TestIssuer } from '../../../lib/testing';

export const CLIENT_ID = 'm2m-client';
export const CLIENT_SECRET = 's3cr3t-Value-that-must-never-leak';
export const API = 'https://api.example.test/';

/** A service on `issuer`'s token endpoint, built as the module builds it, with its events collected. */
export function serviceFor(
  issuer: TestIssuer,
  clock: FakeClock,
  options: Partial<ClientCredentialsOptions> = {},
  store?: ClientTokenStore,
): { service: ClientCredentialsService; events: ClientCredentialsEvent[] } {
  const events: ClientCredentialsEvent[] = [];
  const resolved = resolveClientCredentialsOptions({
    tokenEndpoint: issuer.tokenEndpoint,
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    audience: API,
    ...options,
  } as ClientCredentialsOptions);
  const service = new ClientCredentialsService(resolved.service, { clock, store, listeners: [(e) => events.push(e)] });
  return { service, events };
}

/** Polls an async condition in real time (a background refresh the fake clock started talks to a real server). */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** The error a promise rejects with (fails when it resolves). */
export async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string; kind?: string; retryAt?: number; source?: string; status?: number }> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}
