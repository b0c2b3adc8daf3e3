import { resolveClientCredentialsOptions } from '../lib/client-credentials/client-credentials.options';
import { ClientCredentialsService } from '../lib/client-credentials/client-credentials.service';
import { MemoryClientTokenStore } from '../lib/client-credentials/client-token.store';
import { FakeClock, TestIssuer } from '../lib/testing';
import { measureAlternating, type AlternatingMeasurement } from './measure';

/**
 * The client-credentials cache (`npm run bench:cc`, also part of `npm run bench`):
 * 1. a cached `getToken()` per second, against the floor (a `Map` lookup and an expiry check,
 *    async like ours) and against the usual recipe (a token request per call, to a local token
 *    endpoint: what a service that does not cache pays, before the IdP rate-limits it);
 * 2. token-endpoint requests in one simulated hour at the same total call rate for 1 instance, 4
 *    instances each with its own cache, and 4 sharing one store (fleet mode's counting, on the
 *    in-memory shared store: the Redis store's own e2e shows the same counts across processes),
 *    with the endpoint answering 429 (`Retry-After: 60`) for ten minutes of the hour. The clock is
 *    a FakeClock; the requests are real HTTP to the TestIssuer.
 */

const CLIENT = { clientId: 'bench-m2m', clientSecret: 'bench-m2m-secret-value' };
const AUDIENCE = 'https://api.example.test/';
/** A 10-minute token: several refreshes in the hour (Auth0's default for M2M is 24 h: fewer still). */
const LIFETIME_S = 600;
/** Calls per second over all instances. */
const CALL_RATE = 20;
const STEP_MS = 1000 / CALL_RATE;
const HOUR_MS = 3_600_000;
/** The endpoint throttles from minute 20 to minute 30. */
const THROTTLE = { fromMs: 20 * 60_000, toMs: 30 * 60_000, retryAfterS: 60 };

export interface HourRow {
  configuration: string;
  instances: number;
  requests: number;
  duringThrottle: number;
  callsRefused: number;
}

function service(issuer: TestIssuer, clock: FakeClock | undefined, store?: MemoryClientTokenStore): ClientCredentialsService {
  const resolved = resolveClientCredentialsOptions({ tokenEndpoint: issuer.tokenEndpoint, ...CLIENT, audience: AUDIENCE, logging: false });
  return new ClientCredentialsService(resolved.service, { ...(clock ? { clock } : {}), ...(store ? { store } : {}) });
}

/** One simulated hour: `instances` services, calls spread round robin at CALL_RATE in all. */
async function simulateHour(configuration: string, instances: number, shared: boolean): Promise<HourRow> {
  const clock = new FakeClock(Date.UTC(2026, 10, 23, 9));
  const issuer = await TestIssuer.start({ clock });
  issuer.addClient({ ...CLIENT, tokenLifetimeSeconds: LIFETIME_S });
  const store = shared ? new MemoryClientTokenStore(() => clock.now()) : undefined;
  const services = Array.from({ length: instances }, () => service(issuer, clock, store));
  let duringThrottle = 0;
  let callsRefused = 0;
  let throttling = false;
  try {
    for (let step = 0; step * STEP_MS < HOUR_MS; step++) {
      const t = step * STEP_MS;
      if (!throttling && t >= THROTTLE.fromMs && t < THROTTLE.toMs) {
        throttling = true;
        duringThrottle = -issuer.tokenRequestCount;
        issuer.setTokenFault({ status: 429, headers: { 'retry-after': String(THROTTLE.retryAfterS) }, body: { error: 'too_many_requests' } });
      } else if (throttling && t >= THROTTLE.toMs) {
        throttling = false;
        duringThrottle += issuer.tokenRequestCount;
        issuer.clearTokenFault();
      }
      try {
        await services[step % instances].getToken();
      } catch {
        callsRefused++;
      }
      await clock.advance(STEP_MS);
      // Background refreshes are real HTTP: let them land before the clock moves on much further.
      if (step % 50 === 0) await new Promise((r) => setImmediate(r));
    }
    return { configuration, instances, requests: issuer.tokenRequestCount, duringThrottle, callsRefused };
  } finally {
    for (const s of services) s.close();
    await issuer.close();
  }
}

export async function runClientCredentialsBench(seconds = Number(process.env.BENCH_SECONDS ?? 2)): Promise<{ markdown: string; cached: AlternatingMeasurement[]; hour: HourRow[] }> {
  // 1. A cached getToken per second.
  const issuer = await TestIssuer.start();
  issuer.addClient(CLIENT);
  const ours = service(issuer, undefined);
  const token = await ours.getToken();
  const floor = new Map([[AUDIENCE, { token, expiresAt: Date.now() + 3_600_000 }]]);
  const recipe = async (): Promise<string> => {
    const response = await fetch(issuer.tokenEndpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: CLIENT.clientId, client_secret: CLIENT.clientSecret, audience: AUDIENCE }),
    });
    return ((await response.json()) as { access_token: string }).access_token;
  };
  const dummy = ['-'];
  const cached = await measureAlternating(
    [
      { name: 'floor: Map lookup + expiry check (async)', fn: async () => { const e = floor.get(AUDIENCE); return e !== undefined && e.expiresAt > Date.now() ? e.token : null; }, tokens: dummy },
      { name: 'ours: getToken() (default audience)', fn: () => ours.getToken(), tokens: dummy },
      { name: 'ours: getToken({ audience, scope })', fn: () => ours.getToken({ audience: AUDIENCE, scope: 'read:users' }), tokens: dummy },
      { name: 'usual recipe: a token request per call (local endpoint)', fn: recipe, tokens: dummy },
    ],
    seconds,
    250,
  );
  ours.close();
  await issuer.close();

  // 2. Requests per hour.
  const hour = [await simulateHour('1 instance', 1, false), await simulateHour('4 instances, each its own cache', 4, false), await simulateHour('4 instances, fleet (one shared store)', 4, true)];
  const recipePerHour = (HOUR_MS / 1000) * CALL_RATE;

  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  const byName = (prefix: string) => cached.find((m) => m.name.startsWith(prefix))!;
  const ratio = (a: AlternatingMeasurement, b: AlternatingMeasurement) => median(a.opsPerSecByRound.map((v, i) => v / b.opsPerSecByRound[i]));
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  const markdown = [
    '### Client credentials',
    '',
    `A cached \`getToken()\`, ${seconds} s per contender in alternating turns of 250 ms (ratios: medians of the per-round ratios):`,
    '',
    '| contender | calls/s | p50 µs | p99 µs | / floor |',
    '|---|---:|---:|---:|---:|',
    ...cached.map((m) => `| ${m.name} | ${fmt(m.opsPerSec)} | ${m.p50us.toFixed(1)} | ${m.p99us.toFixed(1)} | ${ratio(m, byName('floor')).toFixed(3)} |`),
    '',
    `Token-endpoint requests in one simulated hour, ${CALL_RATE} calls/s in all, ${LIFETIME_S / 60}-minute tokens, the endpoint answering 429 (\`Retry-After: ${THROTTLE.retryAfterS}\`) from minute 20 to minute 30:`,
    '',
    '| configuration | requests in the hour | of them during the 429s | calls refused (no valid token, throttled) |',
    '|---|---:|---:|---:|',
    `| usual recipe (a request per call) | ${fmt(recipePerHour)} | ${fmt((THROTTLE.toMs - THROTTLE.fromMs) / 1000 * CALL_RATE)} | every call during the 429s |`,
    ...hour.map((r) => `| ${r.configuration} | ${fmt(r.requests)} | ${fmt(r.duringThrottle)} | ${fmt(r.callsRefused)} |`),
    '',
  ].join('\n');
  return { markdown, cached, hour };
}

if (require.main === module) {
  void runClientCredentialsBench().then(({ markdown }) => {
    console.log(markdown);
  });
}
