import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { TestIssuer } from '../../lib/testing';
import { signWebhookBody } from '../../lib/webhook/webhook.signature';
import { RedisServer } from '../../test/fixtures/redis-server';
import { renderChart } from './drill.chart';
import { SampleInstance } from './drill.instances';
import { countsSince, parseCounts, sumCounts, type MetricCounts } from './drill.metrics';
import { drillPlan, type PhaseId, type PhaseSpec } from './drill.plan';
import { DrillRecord, type TokenKind } from './drill.record';
import { drillChecks, formatTable, formatTimeline, jestShapedReport, summaryRows, SUMMARY_HEADER, type DrillFindings, type DrillMeasurements } from './drill.report';

/**
 * `npm run drill [-- --short] [-- --no-fleet] [-- --out DIR] [-- --json FILE]`: a key-rotation drill
 * against the real sample app. It starts a local issuer (the embedded TestIssuer, whose faults the
 * drill drives), two sample-app processes (sharing a fleet through a throwaway redis-server when
 * one is installed), and steady traffic; then, in turn: publishes a next key and rotates to it,
 * rotates without notice while an attacker floods made-up kids, takes the issuer down, answers 429
 * with `x-ratelimit-reset`, and revokes a key through the webhook. It prints progress, a timeline,
 * a summary table and its checks, and writes an SVG chart and a JSON report to DIR (default
 * `drill-output/`). Exit code 1 when a check fails; `--json FILE` writes the checks as a Jest-shaped
 * report, which CI counts.
 */

const ROOT = resolve(__dirname, '..', '..', '..');
const TICK_MS = 20;
const POOL = 16;
const MAX_IN_FLIGHT = 400;
const AUDIENCE = 'https://sample-api';

interface Args {
  short: boolean;
  fleet: boolean;
  out: string;
  json: string | null;
  instances: number;
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { short: false, fleet: true, out: join(ROOT, 'drill-output'), json: null, instances: 2 };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--short') args.short = true;
    else if (arg === '--no-fleet') args.fleet = false;
    else if (arg === '--out') args.out = resolve(argv[++i] ?? '');
    else if (arg === '--json') args.json = resolve(argv[++i] ?? '');
    else if (arg === '--instances') args.instances = Number(argv[++i]);
    else throw new Error(`unknown argument ${arg}: use --short, --no-fleet, --instances N, --out DIR, --json FILE`);
  }
  if (!Number.isInteger(args.instances) || args.instances < 1 || args.instances > 8) throw new Error('--instances must be 1 to 8');
  return args;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A token naming a kid the issuer never published, with a signature nobody can check: what an attacker floods. */
function madeUpToken(issuer: TestIssuer): string {
  const now = Math.floor(Date.now() / 1000);
  const header = b64({ alg: 'RS256', typ: 'JWT', kid: randomBytes(8).toString('hex') });
  const payload = b64({ iss: issuer.issuer, aud: AUDIENCE, sub: 'mallory', iat: now, exp: now + 600 });
  return `${header}.${payload}.${randomBytes(256).toString('base64url')}`;
}

/** Drives the three token streams at their rates over the instances, round robin, and records every answer. */
class Traffic {
  rates: Record<TokenKind, number> = { valid: 0, 'made-up': 0, leaked: 0 };
  /** Called for every accepted valid token: (instance index, kid, when). */
  onValidAccepted: ((instance: number, kid: string, at: number) => void) | null = null;
  private pools = new Map<string, string[]>();
  private owed: Record<TokenKind, number> = { valid: 0, 'made-up': 0, leaked: 0 };
  private next = 0;
  private inFlight = 0;
  private timer: NodeJS.Timeout | null = null;
  dropped = 0;
  signingKid: string;
  leakedKid = '';
  /** Once every instance refused the revoked key: leaked tokens sent from then on must all be refused. */
  revokedSince: number | null = null;
  leakedAcceptedAfterRevoke = 0;

  constructor(
    private readonly issuer: TestIssuer,
    private readonly instances: readonly SampleInstance[],
    private readonly record: DrillRecord,
  ) {
    this.signingKid = issuer.kid;
  }

  start(): void {
    this.timer = setInterval(() => this.tick(), TICK_MS);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    while (this.inFlight > 0) await sleep(10);
  }

  token(kid: string): string {
    let pool = this.pools.get(kid);
    if (!pool) {
      pool = Array.from({ length: POOL }, (_, i) => this.issuer.sign({ sub: `user-${i}`, scope: 'read:profile' }, { kid, expiresInSec: 3600 }));
      this.pools.set(kid, pool);
    }
    return pool[Math.floor(Math.random() * pool.length)];
  }

  /** Every token of a kid's pool (each instance's verified-token cache may hold any of them). */
  allTokens(kid: string): readonly string[] {
    this.token(kid);
    return this.pools.get(kid)!;
  }

  private tick(): void {
    for (const kind of ['valid', 'made-up', 'leaked'] as const) {
      this.owed[kind] += (this.rates[kind] * TICK_MS) / 1000;
      while (this.owed[kind] >= 1) {
        this.owed[kind] -= 1;
        this.send(kind);
      }
    }
  }

  private send(kind: TokenKind): void {
    if (this.inFlight >= MAX_IN_FLIGHT) {
      this.dropped++;
      return;
    }
    const index = this.next++ % this.instances.length;
    const kid = kind === 'valid' ? this.signingKid : kind === 'leaked' ? this.leakedKid : '';
    const token = kind === 'made-up' ? madeUpToken(this.issuer) : this.token(kid);
    this.inFlight++;
    const sentAt = Date.now();
    void this.instances[index].status('/profile', token).then((status) => {
      this.inFlight--;
      const now = Date.now();
      this.record.response(now, kind, status);
      if (kind === 'leaked' && status >= 200 && status < 300 && this.revokedSince !== null && sentAt >= this.revokedSince) this.leakedAcceptedAfterRevoke++;
      if (kind === 'valid' && status === 200) this.onValidAccepted?.(index, kid, now);
    });
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const plan = drillPlan(args.short);
  if (!existsSync(join(ROOT, 'dist-sample', 'main.js'))) throw new Error('dist-sample/main.js is missing: run the drill with `npm run drill`, which builds the sample app first');
  mkdirSync(args.out, { recursive: true });
  const redisInstalled = spawnSync('redis-server', ['--version']).status === 0;
  const fleet = args.fleet && redisInstalled && args.instances > 1;
  const secret = randomBytes(32).toString('hex');
  const issuer = await TestIssuer.start({ audience: AUDIENCE });
  // A redis-server that does not start must not leave the issuer listening (the drill would hang).
  const redis = fleet
    ? await RedisServer.start().catch(async (err: unknown) => {
        await issuer.close();
        throw err;
      })
    : null;
  const startedAt = Date.now();
  const record = new DrillRecord(startedAt);
  const log = (text: string) => process.stdout.write(`${text}\n`);
  const totalS = plan.phases.reduce((sum, p) => sum + p.durationMs, 0) / 1000;
  log(`Rotation drill${plan.short ? ' (short)' : ''}: ${args.instances} sample-app instance(s), ${fleet ? 'fleet mode through a local redis-server' : args.fleet && args.instances > 1 ? 'no fleet (redis-server is not installed)' : 'no fleet'}, about ${Math.round(totalS)} s of traffic.`);
  log(`Cache timings compressed: ttl ${plan.cache.ttlMs} ms, cooldown ${plan.cache.cooldownMs} ms. Instance logs and the report go to ${args.out}.`);

  const env: Record<string, string> = {
    JWKS_ISSUER: issuer.issuer,
    JWKS_AUDIENCE: AUDIENCE,
    JWKS_CACHE: JSON.stringify(plan.cache),
    JWKS_WEBHOOK_SECRET: secret,
    ...(redis ? { REDIS_URL: redis.url } : {}),
  };
  const instances: SampleInstance[] = [];
  const admin = issuer.sign({ sub: 'drill', scope: 'jwks:admin' }, { expiresInSec: 3600 });
  let lastUpstream = 0;
  const sampleUpstream = () => {
    const count = issuer.requestCount;
    record.upstream(Date.now(), count - lastUpstream);
    lastUpstream = count;
  };
  const upstreamTimer = setInterval(sampleUpstream, 50);
  // The children (sample apps, redis-server) are stopped once, at the end or on Ctrl-C / a CI
  // timeout's SIGTERM: a signal to the drill alone would leave them running, holding their ports.
  let stopping: Promise<void> | null = null;
  const stopAll = () =>
    (stopping ??= (async () => {
      clearInterval(upstreamTimer);
      await Promise.all(instances.map((i) => i.stop()));
      await redis?.stop();
      await issuer.close();
    })());
  const onSignal = (signal: NodeJS.Signals) => {
    log(`\nThe drill was interrupted (${signal}): stopping its sample-app instances${redis ? ' and redis-server' : ''}.`);
    void stopAll().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const scrape = async (): Promise<MetricCounts> => sumCounts((await Promise.all(instances.map((i) => i.text('/metrics')))).map((t) => parseCounts(t ?? '')));
  const metrics = new Map<PhaseId, MetricCounts>();
  let traffic: Traffic | null = null;

  // A phase: its banner, a progress line every second, then the module's counts for it from /metrics.
  let phaseIndex = 0;
  const runPhase = async (spec: PhaseSpec, body: (phaseStart: number) => Promise<void>) => {
    phaseIndex++;
    const before = instances.length > 0 ? await scrape() : null;
    sampleUpstream();
    record.phase(spec.id, spec.title, Date.now(), spec.label);
    log(`\n[${phaseIndex}/${plan.phases.length}] ${spec.title}${spec.durationMs ? ` (${(spec.durationMs / 1000).toFixed(1)} s)` : ''}`);
    const tally = record.phases.get(spec.id)!;
    const progress = setInterval(() => {
      sampleUpstream();
      log(`    ${((Date.now() - startedAt) / 1000).toFixed(1).padStart(5)} s  so far in this phase: accepted ${tally.accepted}, refused ${tally.refused}, valid refused ${tally.validRefused + tally.errors}, JWKS requests ${tally.upstream}`);
    }, 1_000);
    try {
      await body(Date.now());
    } finally {
      clearInterval(progress);
      sampleUpstream();
      record.end(Date.now());
    }
    if (before) metrics.set(spec.id, countsSince(before, await scrape()));
  };

  const findings: DrillMeasurements = {
    coldStartMs: 0,
    coldStartUpstream: 0,
    plannedFirstAcceptedMs: null,
    unannouncedFirstAcceptedMs: [],
    staleServingMs: [],
    rateLimit: { resetAfterMs: 0, requestsBeforeReset: 0, requestsAfterReset: 0 },
    revoke: { statuses: [], refusedEverywhereMs: null, acceptedAfterRefusal: 0 },
  };
  const spec = (id: PhaseId) => plan.phases.find((p) => p.id === id)!;
  // Signed notices to the webhook: one instance in a fleet (the fleet spreads it), every instance without.
  const notify = async (notice: Record<string, unknown>): Promise<number[]> => {
    const targets = fleet ? instances.slice(0, 1) : instances;
    return Promise.all(
      targets.map((instance) => {
        const body = JSON.stringify(notice);
        const t = Math.floor(Date.now() / 1000);
        return instance.post('/jwks-auth/webhook', body, { 'x-jwks-signature': `t=${t},v1=${signWebhookBody(secret, t, body)}` });
      }),
    );
  };
  // Polls every instance's key-set phase (admin route) and adds up the time each spends past freshness.
  const watchStaleness = () => {
    const stale = instances.map(() => 0);
    let last = Date.now();
    let stopped = false;
    const wasStale = instances.map(() => false);
    const loop = (async () => {
      while (!stopped) {
        const states = await Promise.all(instances.map((i) => i.text('/admin/jwks', admin)));
        const now = Date.now();
        states.forEach((text, i) => {
          let phase = 'unknown';
          try {
            phase = (Object.values(JSON.parse(text ?? '{}') as Record<string, { phase: string }>)[0]?.phase as string) ?? 'unknown';
          } catch {
            phase = 'unknown';
          }
          const isStale = phase === 'stale' || phase === 'expired';
          if (isStale) stale[i] += now - last;
          if (isStale !== wasStale[i]) {
            record.note(now, `${instances[i].name}: key set ${isStale ? `past its freshness (${phase}), still serving` : 'fresh again'}`);
            wasStale[i] = isStale;
          }
        });
        last = now;
        await sleep(100);
      }
    })();
    return async () => {
      stopped = true;
      await loop;
      return stale;
    };
  };

  let exitCode = 0;
  try {
    await runPhase(spec('cold-start'), async () => {
      const t0 = Date.now();
      for (let i = 0; i < args.instances; i++) instances.push(await SampleInstance.start(`instance-${i + 1}`, ROOT, args.out, env));
      await Promise.all(instances.map((i) => i.ready(30_000)));
      findings.coldStartMs = Date.now() - t0;
      sampleUpstream();
      findings.coldStartUpstream = issuer.requestCount;
      record.note(Date.now(), `${instances.length} instance(s) ready; the issuer received ${issuer.requestCount} JWKS request(s) and ${issuer.discoveryRequestCount} discovery request(s)`);
      traffic = new Traffic(issuer, instances, record);
      traffic.rates.valid = plan.validRate;
      traffic.start();
    });
    const t = traffic!;

    await runPhase(spec('steady'), async () => {
      await sleep(spec('steady').durationMs);
    });

    await runPhase(spec('planned-rotation'), async (start) => {
      const nextKid = issuer.addKey({ publish: true });
      record.note(Date.now(), 'the IdP publishes its next key beside the current one (not signing with it yet)');
      await sleep(plan.publishLeadMs);
      const switchAt = Date.now();
      t.onValidAccepted = (_i, kid, at) => {
        if (kid === nextKid && findings.plannedFirstAcceptedMs === null) {
          findings.plannedFirstAcceptedMs = at - switchAt;
          record.note(at, 'first token of the new key accepted');
          record.mark(at, 'next key accepted');
        }
      };
      t.signingKid = nextKid;
      record.note(switchAt, 'the IdP signs with the new key');
      record.mark(switchAt, 'signs with next key');
      await sleep(Math.max(0, start + spec('planned-rotation').durationMs - Date.now()));
    });
    const plannedKid = t.signingKid;

    await runPhase(spec('unannounced-rotation'), async (start) => {
      t.rates['made-up'] = plan.floodRate;
      record.note(Date.now(), `an attacker floods made-up kids (${plan.floodRate}/s)`);
      await sleep(plan.floodLeadMs);
      const surpriseKid = issuer.addKey({ publish: true });
      const switchAt = Date.now();
      const first: Array<number | null> = instances.map(() => null);
      t.onValidAccepted = (i, kid, at) => {
        if (kid === surpriseKid && first[i] === null) {
          first[i] = at - switchAt;
          record.note(at, `${instances[i].name}: first token of the unannounced key accepted`);
          if (first.every((v) => v !== null)) record.mark(at, 'new key accepted everywhere');
        }
      };
      t.signingKid = surpriseKid;
      record.note(switchAt, 'the IdP rotates without notice: publishes a new key and signs with it at once');
      record.mark(switchAt, 'rotated without notice');
      await sleep(Math.max(0, start + spec('unannounced-rotation').durationMs - Date.now()));
      t.rates['made-up'] = 0;
      findings.unannouncedFirstAcceptedMs = first;
      t.onValidAccepted = null;
    });

    await runPhase(spec('issuer-down'), async (start) => {
      const stopWatching = watchStaleness();
      issuer.setFault({ reset: true });
      record.note(Date.now(), 'the issuer goes down (every connection reset)');
      const recoverMs = Math.round(plan.cache.backoffMaxMs + 1_000);
      await sleep(Math.max(0, spec('issuer-down').durationMs - recoverMs));
      issuer.clearFault();
      record.note(Date.now(), 'the issuer is back');
      record.mark(Date.now(), 'issuer back');
      await sleep(Math.max(0, start + spec('issuer-down').durationMs - Date.now()));
      findings.staleServingMs = await stopWatching();
    });

    await runPhase(spec('rate-limited'), async (start) => {
      const resetAt = Math.ceil((Date.now() + plan.rateLimitForMs) / 1000) * 1000;
      findings.rateLimit.resetAfterMs = resetAt - start;
      sampleUpstream();
      const before = issuer.requestCount;
      issuer.setFault({ status: 429, headers: { 'x-ratelimit-reset': String(resetAt / 1000) }, body: { error: 'too_many_requests' } });
      record.note(Date.now(), `the issuer answers 429 with x-ratelimit-reset ${(findings.rateLimit.resetAfterMs / 1000).toFixed(1)} s ahead`);
      const statuses = await notify({ event: 'refresh' });
      record.note(Date.now(), `an operator asks for a refresh through the webhook (${statuses.join(', ')})`);
      await sleep(Math.max(0, resetAt - Date.now()));
      const atReset = issuer.requestCount;
      issuer.clearFault();
      record.note(Date.now(), 'x-ratelimit-reset reached: the issuer answers again');
      record.mark(Date.now(), 'x-ratelimit-reset');
      findings.rateLimit.requestsBeforeReset = atReset - before;
      await sleep(Math.max(0, start + spec('rate-limited').durationMs - Date.now()));
      findings.rateLimit.requestsAfterReset = issuer.requestCount - atReset;
    });

    await runPhase(spec('revoke'), async (start) => {
      t.leakedKid = plannedKid;
      t.rates.leaked = plan.leakedRate;
      record.note(Date.now(), 'tokens of an older, still published key keep arriving (the key has leaked)');
      await sleep(plan.revokeAfterMs);
      const statuses = await notify({ event: 'revoke', kid: plannedKid });
      const noticeAt = Date.now();
      findings.revoke.statuses = statuses;
      record.note(noticeAt, `revoke notice through the webhook: ${statuses.join(', ')}`);
      record.mark(noticeAt, 'revoke notice');
      // Probe each instance with the leaked key's tokens until it refuses one.
      const refusedAt = await Promise.all(
        instances.map(async (instance) => {
          while (Date.now() - noticeAt < 3_000) {
            const status = await instance.status('/profile', t.token(plannedKid));
            // Counted like the stream's own, so the phase's counts match the module's /metrics.
            record.response(Date.now(), 'leaked', status);
            if (status === 401) return Date.now();
            await sleep(10);
          }
          return null;
        }),
      );
      findings.revoke.refusedEverywhereMs = refusedAt.some((v) => v === null) ? null : Math.max(...(refusedAt as number[])) - noticeAt;
      if (findings.revoke.refusedEverywhereMs !== null) {
        record.note(noticeAt + findings.revoke.refusedEverywhereMs, 'the revoked key is refused by every instance');
        // One refused token proves little: a token an instance verified before the notice sits in
        // its verified-token cache. Every token of the key, on every instance, must be refused now,
        // and every one the traffic sends from now on.
        t.revokedSince = Date.now();
        const sweep = async (instance: SampleInstance) => {
          const statuses = await Promise.all(t.allTokens(plannedKid).map((token) => instance.status('/profile', token)));
          for (const status of statuses) record.response(Date.now(), 'leaked', status);
          return statuses.filter((s) => s >= 200 && s < 300).length;
        };
        const swept = await Promise.all(instances.map(sweep));
        findings.revoke.acceptedAfterRefusal += swept.reduce((a, b) => a + b, 0);
      }
      await sleep(Math.max(0, start + spec('revoke').durationMs - Date.now()));
      t.rates.leaked = 0;
      await t.stop();
      findings.revoke.acceptedAfterRefusal += t.leakedAcceptedAfterRevoke;
    });
    await t.stop();
    const casualties = instances.map((i) => i.casualty).filter((c): c is string => c !== null);
    for (const instance of instances) if (!instance.casualty && (await instance.status('/health/live')) !== 200) casualties.push(`${instance.name}: /health/live did not answer 200`);

    const full: DrillFindings = { fleet, instances: instances.length, ...findings, metrics, casualties };
    const checks = drillChecks(plan, record, full);
    log('\nTimeline');
    log(formatTimeline(record));
    log('\nSummary');
    log(formatTable(SUMMARY_HEADER, summaryRows(plan, record, full)));
    if (t.dropped > 0) log(`(${t.dropped} requests not sent: ${MAX_IN_FLIGHT} were already in flight)`);
    log('\nChecks');
    for (const c of checks) log(`  ${c.passed ? 'ok  ' : 'FAIL'}  ${c.name}: ${c.detail}`);
    const chartPath = join(args.out, 'drill.svg');
    writeFileSync(chartPath, renderChart({ title: `Rotation drill: ${instances.length} instance(s), ${fleet ? 'fleet mode' : 'no fleet'}`, buckets: record.buckets, bucketMs: record.bucketMs, phases: record.phaseStarts, markers: record.markers }));
    writeFileSync(
      join(args.out, 'drill.json'),
      JSON.stringify({ plan, fleet, instances: instances.length, phases: Object.fromEntries(record.phases), findings: { ...full, metrics: Object.fromEntries([...metrics].map(([k, v]) => [k, { refusals: Object.fromEntries(v.refusals), unknownKids: Object.fromEntries(v.unknownKids) }])) }, timeline: record.timeline, checks }, null, 2),
    );
    if (args.json) writeFileSync(args.json, JSON.stringify(jestShapedReport(checks)));
    const failed = checks.filter((c) => !c.passed).length;
    log(`\nChart: ${chartPath}`);
    log(`${checks.length - failed} checks passed, ${failed} failed (${((Date.now() - startedAt) / 1000).toFixed(1)} s)`);
    if (failed > 0) exitCode = 1;
  } catch (err) {
    log(`\nThe drill stopped: ${err instanceof Error ? err.message : String(err)}`);
    if (args.json) writeFileSync(args.json, JSON.stringify(jestShapedReport([{ name: 'the drill ran to the end', passed: false, detail: String(err) }])));
    exitCode = 1;
  } finally {
    await stopAll();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
  process.exitCode = exitCode;
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
