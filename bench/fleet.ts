import 'reflect-metadata';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { JwksCacheService, JwtVerifier, type JwksAuthEvent, type JwksAuthModuleOptions } from '../lib';
import { systemClock } from '../lib/cache/clock';
import { httpJwksFetcher } from '../lib/fetch/jwks.fetcher';
import { resolveJwksOptions } from '../lib/options/options.validator';
import { defaultKeySetStore } from '../lib/store/default-key-set.store';
import type { KeySetStore } from '../lib/store/key-set.store';
import { TestIssuer } from '../lib/testing';
import { RedisServer } from '../test/fixtures/redis-server';

/**
 * `npm run bench:fleet` (also the last table of `npm run bench`): what fleet mode saves the IdP.
 * Three configurations run the same load script against a fresh TestIssuer each, and the issuer
 * counts the JWKS requests it receives: (a) one instance, (b) N instances each with its own cache
 * (no `fleet`), (c) N instances sharing one real redis-server (`fleet: { redis, keyPrefix }`, a
 * fresh prefix per run). The script: cold start of every instance at once, steady load of valid
 * tokens spread over the instances, a key rotation (tokens with the new kid at once), a flood of
 * made-up kids, steady load again. Timings are compressed (a 10-s TTL) so a configuration takes
 * about 30 s. Instances are in one process, each with its own key-set cache, verifier and (in
 * fleet mode) its own Redis connections, built as the module's providers build them: counting
 * upstream requests does not need separate processes.
 *
 * FLEET_INSTANCES sets N (default 4). Without redis-server on PATH, prints a skip line.
 */

const INSTANCES = Number(process.env.FLEET_INSTANCES ?? 4);
/** Compressed timings: a TTL of 10 s instead of 10 min, so refreshes, cooldowns and rotation fit in seconds. */
const CACHE = { ttlMs: 10_000, minTtlMs: 1_000, refreshAheadMs: 2_000, cooldownMs: 5_000 } as const;
const TICK_MS = 10;
/** Valid verifications per second over all instances. */
const STEADY_RATE = 300;
const FLOOD_TOKENS = 4_000;
/** Steady phases longer than the refresh point (8–9 s after a fetch), so each holds a background refresh. */
const PHASES = { steady1Ms: 12_000, rotationMs: 6_000, floodMs: 2_000, steady2Ms: 10_000 } as const;
const POOL = 64;

type PhaseName = 'cold start' | 'steady' | 'rotation' | 'flood' | 'steady again';
const PHASE_NAMES: readonly PhaseName[] = ['cold start', 'steady', 'rotation', 'flood', 'steady again'];

interface Tally {
  accepted: number;
  refused: number;
  codes: Map<string, number>;
}

const tally = (): Tally => ({ accepted: 0, refused: 0, codes: new Map() });

interface Instance {
  cache: JwksCacheService;
  verifier: JwtVerifier;
  store: KeySetStore;
  /** Upstream fetches this instance made, by trigger and outcome (from its `fetch-finished` events). */
  fetches: Map<string, number>;
  /** Other events worth a look (store trouble, refused refetches). */
  events: Map<string, number>;
}

export interface FleetRun {
  configuration: string;
  instances: number;
  fleet: boolean;
  /** Upstream JWKS requests the issuer received in each phase. */
  requests: Record<PhaseName, number>;
  total: number;
  durationMs: number;
  perMinute: number;
  /** Valid tokens, by phase. */
  valid: Record<PhaseName, Tally>;
  /** Tokens with made-up kids: all must be refused. */
  flood: Tally;
  /** From the first instance's start until every instance has warmed up. */
  coldStartMs: number;
  /** Verifications of valid tokens that waited for a fetch (a promise), and the longest such wait. */
  deferred: number;
  longestWaitMs: number;
  fetchesByInstance: Array<Record<string, number>>;
  events: Record<string, number>;
}

const bump = (m: Map<string, number>, k: string, by = 1) => m.set(k, (m.get(k) ?? 0) + by);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A silent log for the Redis store: its trouble shows in the events counted instead. */
const quiet = { warn: () => undefined, error: () => undefined, log: () => undefined };

/** One instance as the module's providers build it: resolved options → store → JwksCacheService → JwtVerifier. */
async function startInstance(issuer: TestIssuer, fleet: { url: string; keyPrefix: string } | null): Promise<Instance> {
  const options: JwksAuthModuleOptions = {
    issuer: issuer.issuer,
    jwksUri: issuer.jwksUri,
    audience: issuer.audience,
    algorithms: ['RS256'],
    cache: { ...CACHE },
    ...(fleet === null ? {} : { fleet: { redis: fleet.url, keyPrefix: fleet.keyPrefix } }),
  };
  const resolved = resolveJwksOptions(options);
  const fetches = new Map<string, number>();
  const events = new Map<string, number>();
  const listener = (e: JwksAuthEvent) => {
    if (e.type === 'fetch-finished') bump(fetches, `${e.trigger} ${e.outcome}`);
    else if (e.type !== 'token-refused' && e.type !== 'unknown-kid' && e.type !== 'key-set-changed') bump(events, e.type === 'refetch-refused' ? `refetch-refused ${e.reason}` : e.type);
  };
  const store = defaultKeySetStore(resolved, quiet);
  const cache = new JwksCacheService(resolved, systemClock, httpJwksFetcher, store, [listener]);
  const verifier = new JwtVerifier(resolved, cache.registry, systemClock, [listener]);
  await cache.onApplicationBootstrap();
  return { cache, verifier, store, fetches, events };
}

async function stopInstance(i: Instance): Promise<void> {
  await i.cache.onApplicationShutdown();
  await (i.store as { close?: () => Promise<void> }).close?.();
}

/** A token with a made-up kid: a valid token's payload and signature under a header naming a kid no set holds. */
function madeUpKid(valid: string): string {
  const [, payload, signature] = valid.split('.');
  const header = Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: `flood-${randomBytes(8).toString('hex')}` })).toString('base64url');
  return `${header}.${payload}.${signature}`;
}

function pool(issuer: TestIssuer): string[] {
  return Array.from({ length: POOL }, (_, i) => issuer.sign({ sub: `user-${i}`, scope: 'read:profile' }, { expiresInSec: 3600 }));
}

/** Runs the load script against `count` instances; `fleet` null means each instance has its own cache. */
export async function runConfiguration(configuration: string, count: number, fleet: { url: string; keyPrefix: string } | null): Promise<FleetRun> {
  const issuer = await TestIssuer.start();
  const pending = new Set<Promise<void>>();
  const valid = Object.fromEntries(PHASE_NAMES.map((p) => [p, tally()])) as Record<PhaseName, Tally>;
  const flood = tally();
  const requests = Object.fromEntries(PHASE_NAMES.map((p) => [p, 0])) as Record<PhaseName, number>;
  let instances: Instance[] = [];
  let next = 0;
  let deferred = 0;
  let longestWaitMs = 0;

  const record = (t: Tally, err: unknown) => {
    t.refused++;
    bump(t.codes, String((err as { code?: string })?.code ?? (err as Error)?.message ?? 'error'));
  };
  /** One verification on the next instance in turn; its outcome lands in `t` when it settles. */
  const verify = (token: string, t: Tally) => {
    const inst = instances[next++ % instances.length];
    try {
      const r = inst.verifier.verifyOrDefer(token);
      if (r instanceof Promise) {
        const t0 = performance.now();
        const waited = () => {
          if (t === flood) return;
          deferred++;
          longestWaitMs = Math.max(longestWaitMs, performance.now() - t0);
        };
        const p: Promise<void> = r.then(
          () => {
            waited();
            t.accepted++;
          },
          (err: unknown) => {
            waited();
            record(t, err);
          },
        );
        pending.add(p);
        void p.finally(() => pending.delete(p));
      } else t.accepted++;
    } catch (err) {
      record(t, err);
    }
  };
  /** Calls `tick` every TICK_MS for `ms` (catching up after a slow tick, so the rate holds). */
  const drive = async (ms: number, tick: (n: number) => void) => {
    const start = performance.now();
    let done = 0;
    const ticks = Math.round(ms / TICK_MS);
    while (done < ticks) {
      const due = Math.min(ticks, Math.floor((performance.now() - start) / TICK_MS) + 1);
      while (done < due) tick(done++);
      await sleep(Math.max(1, start + done * TICK_MS - performance.now()));
    }
  };
  const perTick = (STEADY_RATE * TICK_MS) / 1000;
  let tokens = pool(issuer);
  let seq = 0;
  const steady = (phase: PhaseName) => () => {
    for (let k = 0; k < perTick; k++) verify(tokens[seq++ % tokens.length], valid[phase]);
  };
  const phase = async (name: PhaseName, work: () => Promise<void>) => {
    const before = issuer.requestCount;
    await work();
    requests[name] = issuer.requestCount - before;
  };

  const started = performance.now();
  await phase('cold start', async () => {
    // Every instance at once, as a deploy starts them; each waits for its warm-up.
    instances = await Promise.all(Array.from({ length: count }, () => startInstance(issuer, fleet)));
  });
  const coldStartMs = performance.now() - started;
  await phase('steady', () => drive(PHASES.steady1Ms, steady('steady')));
  await phase('rotation', async () => {
    issuer.rotate();
    // Tokens with the new kid from now on (signed in about a millisecond each).
    tokens = pool(issuer);
    await drive(PHASES.rotationMs, steady('rotation'));
  });
  await phase('flood', async () => {
    const perFloodTick = FLOOD_TOKENS / (PHASES.floodMs / TICK_MS);
    await drive(PHASES.floodMs, (n) => {
      steady('flood')();
      const from = Math.round(n * perFloodTick);
      const to = Math.round((n + 1) * perFloodTick);
      for (let k = from; k < to; k++) verify(madeUpKid(tokens[k % tokens.length]), flood);
    });
  });
  await phase('steady again', () => drive(PHASES.steady2Ms, steady('steady again')));
  const durationMs = performance.now() - started;
  await Promise.all(pending);

  const total = PHASE_NAMES.reduce((s, p) => s + requests[p], 0);
  const events = new Map<string, number>();
  for (const i of instances) for (const [k, v] of i.events) bump(events, k, v);
  const run: FleetRun = {
    configuration,
    instances: count,
    fleet: fleet !== null,
    requests,
    total,
    durationMs,
    perMinute: (total / durationMs) * 60_000,
    valid,
    flood,
    coldStartMs,
    deferred,
    longestWaitMs,
    fetchesByInstance: instances.map((i) => Object.fromEntries(i.fetches)),
    events: Object.fromEntries(events),
  };
  if (total !== issuer.requestCount) throw new Error(`phase counts (${total}) do not add up to the issuer's ${issuer.requestCount}`);
  await Promise.all(instances.map(stopInstance));
  await issuer.close();
  return run;
}

const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const codes = (t: Tally) => [...t.codes].map(([c, n]) => `${fmt(n)} ${c}`).join(', ');

function refusedCell(r: FleetRun): string {
  const refused = PHASE_NAMES.filter((p) => r.valid[p].refused > 0);
  if (refused.length === 0) return '0';
  return refused.map((p) => `${fmt(r.valid[p].refused)} in ${p} (${codes(r.valid[p])})`).join('; ');
}

/** The markdown table and its notes. */
export function fleetTable(runs: readonly FleetRun[]): string {
  const validTotal = (r: FleetRun) => PHASE_NAMES.reduce((s, p) => s + r.valid[p].accepted + r.valid[p].refused, 0);
  const one = runs.find((r) => r.instances === 1);
  return [
    `### Fleet mode: upstream JWKS requests, 1 and ${INSTANCES} instances`,
    '',
    '| configuration | instances | upstream JWKS requests (cold start / steady / rotation / flood / steady again = total) | per minute | × 1 instance | valid tokens verified | valid tokens refused | made-up kids refused | cold start | valid tokens that waited for a fetch (longest wait) |',
    '|---|---:|---|---:|---:|---:|---|---:|---:|---:|',
    ...runs.map(
      (r) =>
        `| ${r.configuration} | ${r.instances} | ${PHASE_NAMES.map((p) => r.requests[p]).join(' / ')} = **${r.total}** | ${fmt(r.perMinute, 1)} | ${one === undefined ? '' : fmt(r.total / one.total, 2)} | ${fmt(validTotal(r))} | ${refusedCell(r)} | ${fmt(r.flood.refused)} of ${fmt(r.flood.accepted + r.flood.refused)} | ${fmt(r.coldStartMs)} ms | ${fmt(r.deferred)} (${fmt(r.longestWaitMs)} ms) |`,
    ),
    '',
    `Load script, the same for each configuration, each against a fresh TestIssuer (RS256, ETag on: a refresh of an unchanged set is a 304, still one request): ` +
      `cold start of every instance at once; steady ${fmt(STEADY_RATE)} valid tokens/s spread round-robin over the instances for ${PHASES.steady1Ms / 1000} s; ` +
      `rotation (a new key published, tokens signed with it from then on) and ${PHASES.rotationMs / 1000} s of the same load; ` +
      `a flood of ${fmt(FLOOD_TOKENS)} tokens with made-up kids over ${PHASES.floodMs / 1000} s on top of the load; ${PHASES.steady2Ms / 1000} s of steady load again. ` +
      `Timings compressed: \`cache: { ttlMs: ${CACHE.ttlMs}, minTtlMs: ${CACHE.minTtlMs}, refreshAheadMs: ${CACHE.refreshAheadMs}, cooldownMs: ${CACHE.cooldownMs} }\`; ` +
      'per minute = total ÷ the run\'s real duration (cold start included). ' +
      'Instances run in one process (each its own key-set cache and verifier, and in fleet mode its own Redis connections to one real redis-server, a fresh key prefix per run): counting upstream requests needs no separate processes. ' +
      'Reproduce with `npm run bench:fleet` (FLEET_INSTANCES to change N).',
    '',
    '',
  ].join('\n');
}

function printDetails(r: FleetRun): void {
  console.log(`${r.configuration}: ${r.total} upstream requests in ${fmt(r.durationMs / 1000, 1)} s (${fmt(r.perMinute, 1)}/min); per phase ${PHASE_NAMES.map((p) => `${p} ${r.requests[p]}`).join(', ')}`);
  r.fetchesByInstance.forEach((f, i) => console.log(`  instance ${i + 1} fetched: ${JSON.stringify(f)}`));
  for (const p of PHASE_NAMES) if (r.valid[p].accepted + r.valid[p].refused > 0) console.log(`  valid tokens, ${p}: ${r.valid[p].accepted} accepted, ${r.valid[p].refused} refused${r.valid[p].refused ? ` (${codes(r.valid[p])})` : ''}`);
  console.log(`  cold start ${fmt(r.coldStartMs)} ms; ${r.deferred} valid tokens waited for a fetch, longest ${fmt(r.longestWaitMs, 1)} ms`);
  console.log(`  made-up kids: ${r.flood.accepted} accepted, ${r.flood.refused} refused (${codes(r.flood)})`);
  if (Object.keys(r.events).length > 0) console.log(`  events: ${JSON.stringify(r.events)}`);
}

/**
 * Runs the three configurations and returns the markdown, or null (with a skip line printed)
 * when redis-server is not installed.
 */
export async function runFleetBench(): Promise<string | null> {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (probe.error !== undefined || probe.status !== 0) {
    console.log('fleet bench skipped: redis-server is not on PATH (Debian: apt-get install -y redis-server)');
    return null;
  }
  const redis = await RedisServer.start();
  try {
    const runs: FleetRun[] = [];
    const prefix = () => `bench-fleet-${randomBytes(4).toString('hex')}:`;
    for (const [name, count, fleet] of [
      ['one instance', 1, null],
      [`${INSTANCES} instances, each its own cache (no fleet)`, INSTANCES, null],
      [`${INSTANCES} instances, fleet mode (one Redis)`, INSTANCES, { url: redis.url, keyPrefix: prefix() }],
    ] as const) {
      const run = await runConfiguration(name, count, fleet);
      printDetails(run);
      runs.push(run);
    }
    return fleetTable(runs);
  } finally {
    await redis.stop();
  }
}

if (require.main === module) {
  runFleetBench().then(
    (md) => {
      if (md !== null) console.log(`\n${md}`);
      process.exit(0);
    },
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
