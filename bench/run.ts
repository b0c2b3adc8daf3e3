import 'reflect-metadata';
import { fork, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { JwksCacheService, JwtVerifier } from '../lib';
import { TestIssuer } from '../lib/testing';
import { buildContenders } from './contenders';
import { measure, type Measurement } from './measure';
import { issuerRoutingTable, measureIssuerRouting, singleRatio, spreadRatio, ROUTED_ISSUERS } from './issuers';
import { measureIssuerMemory, measureMemory } from './memory';
import { measureWorstCases, type WorstCase } from './worst-case';
import { measureStrategyVsGuard, strategyCost, strategyTable } from './strategy';
import { runFleetBench } from './fleet';
import { runClientCredentialsBench } from './client-credentials';

/**
 * `npm run bench`: every contender in one process on the same keys and tokens (verifiers, issuer
 * routing, the Passport strategy against the guard), then the HTTP benchmark (each server in its
 * own process, autocannon in this one: REST routes, then a GraphQL query), then memory, then fleet
 * mode's upstream JWKS requests (`bench/fleet.ts`; skipped without redis-server), then the
 * client-credentials cache (`bench/client-credentials.ts`). Prints the
 * tables and writes bench/RESULTS.md. BENCH_SECONDS sets the measured time per contender (default 2;
 * three times that, in alternating turns, for the issuer-routing table, twice for strategy against guard);
 * BENCH_IN_PROCESS_ONLY=1 stops after the in-process tables (no HTTP, no memory, RESULTS.md untouched).
 */
const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
const HTTP_SECONDS = Number(process.env.BENCH_HTTP_SECONDS ?? 8);
const POOL = 500;
/** Measured time per contender of the issuer-routing table: its 3 % target needs more rounds than a plain table. */
const ISSUER_SECONDS = SECONDS * 3;
/** Measured time per contender of the strategy-vs-guard table: alternating turns, as for issuer routing. */
const STRATEGY_SECONDS = SECONDS * 2;

const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

function table(title: string, rows: Measurement[], baseline: string): string {
  const base = rows.find((r) => r.name === baseline)?.opsPerSec ?? NaN;
  const lines = [
    `### ${title}`,
    '',
    '| contender | ops/s | p50 µs | p99 µs | × raw crypto.verify |',
    '|---|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.name} | ${fmt(r.opsPerSec)} | ${fmt(r.p50us, 1)} | ${fmt(r.p99us, 1)} | ${fmt(r.opsPerSec / base, 2)} |`),
    '',
    '',
  ];
  return lines.join('\n');
}

async function inProcess(): Promise<{ markdown: string; results: Record<string, Measurement[]> }> {
  const results: Record<string, Measurement[]> = {};
  let markdown = '';
  for (const alg of ['RS256', 'ES256'] as const) {
    const issuer = await TestIssuer.start({ alg });
    const unique = Array.from({ length: POOL }, (_, i) => issuer.sign({ sub: `user-${i}`, scope: 'read:profile write:profile' }, { expiresInSec: 3600 }));
    const repeated = [unique[0]];
    const set = await buildContenders(issuer, alg);
    const uniqueNames = Object.keys(set.contenders).filter((n) => !n.includes('cache'));
    const repeatedNames = ['raw crypto.verify (KeyObject)', 'ours: JwtVerifier', 'ours: JwtVerifier, verified-token cache', 'fast-jwt + get-jwks', 'fast-jwt + get-jwks, token cache'];
    for (const [scenario, names, tokens] of [
      ['unique tokens', uniqueNames, unique],
      ['one repeated token', repeatedNames, repeated],
    ] as const) {
      const rows: Measurement[] = [];
      for (const name of names) {
        const m = await measure(name, set.contenders[name], tokens, SECONDS);
        rows.push(m);
        console.log(`${alg} ${scenario}: ${name}: ${fmt(m.opsPerSec)} ops/s`);
      }
      results[`${alg} ${scenario}`] = rows;
      markdown += table(`${alg}, ${scenario} (in process)`, rows, 'raw crypto.verify (KeyObject)');
    }
    await set.close();
    await issuer.close();
  }
  return { markdown, results };
}

interface HttpRow {
  mode: string;
  /** Requests answered per second over all of the server's turns. */
  rps: number;
  /** Medians over the server's turns. */
  p50: number;
  p99: number;
  /**
   * The server process's CPU time (user + system) per answered request over all its turns: on a
   * shared machine req/s also measures the neighbours, CPU time per request far less.
   */
  cpuUs: number;
  rpsByRound: number[];
  cpuByRound: number[];
  /** Non-2xx answers, and for GraphQL also 200s whose body is not the expected data (a refusal is a GraphQL error with HTTP 200). */
  refused: number;
}

/** What autocannon sends to one kind of server. */
interface HttpLoad {
  method: 'GET' | 'POST';
  path: string;
  headers?: Record<string, string>;
  body?: string;
  /** When set, any other answer counts as refused. */
  expectBody?: string;
}

/** One turn of the HTTP benchmark, in seconds: rounds = BENCH_HTTP_SECONDS ÷ this. */
const HTTP_TURN_SECONDS = 1;

/** The server's CPU time so far, in µs. */
function cpuOf(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    const onMessage = (m: { cpu?: NodeJS.CpuUsage }) => {
      if (m.cpu === undefined) return;
      child.off('message', onMessage);
      resolve(m.cpu.user + m.cpu.system);
    };
    child.on('message', onMessage);
    child.send('cpu');
  });
}

/** Ends a server and waits for it to be gone. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill();
  const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
  await exited;
  clearTimeout(timer);
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/**
 * Forks `script` once per mode (all idle but the one under load) and loads them in turns of
 * `HTTP_TURN_SECONDS`, round after round, the order reversed every other round, after a 1 s
 * warm-up each: the neighbours of a shared machine come and go within seconds, so servers measured
 * one after the other would compare the neighbours as much as the servers. Each round gives every
 * server's req/s and CPU per request; the ratios are the medians of the per-round ratios.
 * A round-robin bearer token per request.
 */
async function loadAlternating(issuer: TestIssuer, tokens: readonly string[], script: string, modes: readonly string[], spec: HttpLoad): Promise<HttpRow[]> {
  const servers: Array<{ mode: string; child: ChildProcess; port: number }> = [];
  for (const mode of modes) {
    const child = fork(join(__dirname, script), [mode], {
      env: { ...process.env, ISSUER: issuer.issuer, JWKS_URI: issuer.jwksUri, AUDIENCE: issuer.audience },
    });
    const port = await new Promise<number>((resolve, reject) => {
      child.once('message', (m: { port: number }) => resolve(m.port));
      child.once('exit', (code) => reject(new Error(`server ${script} ${mode} exited with ${code}`)));
    });
    servers.push({ mode, child, port });
  }
  let i = 0;
  /** 2xx answers other than `expectBody` (autocannon's own `expectBody` cannot be combined with `requests`). */
  let mismatches = 0;
  const { expectBody } = spec;
  const turn = (port: number, duration: number) =>
    autocannon({
      url: `http://127.0.0.1:${port}`,
      connections: 32,
      pipelining: 1,
      duration,
      requests: [
        {
          method: spec.method,
          path: spec.path,
          ...(spec.body === undefined ? {} : { body: spec.body }),
          setupRequest: (req: autocannon.Request) => ({ ...req, headers: { ...spec.headers, authorization: `Bearer ${tokens[i++ % tokens.length]}` } }),
          ...(expectBody === undefined ? {} : { onResponse: (status: number, body: string) => void (status < 300 && body !== expectBody && mismatches++) }),
        },
      ],
    });
  for (const server of servers) await turn(server.port, 1); // warm-up
  const stats = servers.map(() => ({ requests: 0, seconds: 0, cpuUs: 0, refused: 0, p50: [] as number[], p99: [] as number[], rps: [] as number[], cpu: [] as number[] }));
  const rounds = Math.max(1, Math.round(HTTP_SECONDS / HTTP_TURN_SECONDS));
  for (let round = 0; round < rounds; round++) {
    const order = servers.map((_, k) => (round % 2 === 0 ? k : servers.length - 1 - k));
    for (const k of order) {
      mismatches = 0;
      const cpuBefore = await cpuOf(servers[k].child);
      const r = await turn(servers[k].port, HTTP_TURN_SECONDS);
      const cpuUs = (await cpuOf(servers[k].child)) - cpuBefore;
      const st = stats[k];
      st.requests += r.requests.total;
      st.seconds += r.duration;
      st.cpuUs += cpuUs;
      st.refused += r.non2xx + mismatches;
      st.p50.push(r.latency.p50);
      st.p99.push(r.latency.p99);
      st.rps.push(r.requests.total / r.duration);
      st.cpu.push(cpuUs / r.requests.total);
    }
  }
  for (const server of servers) await stop(server.child);
  return servers.map(({ mode }, k) => {
    const st = stats[k];
    const row = { mode, rps: st.requests / st.seconds, p50: median(st.p50), p99: median(st.p99), cpuUs: st.cpuUs / st.requests, rpsByRound: st.rps, cpuByRound: st.cpu, refused: st.refused };
    console.log(`HTTP ${script} ${mode}: ${fmt(row.rps)} req/s, ${fmt(row.cpuUs)} µs server CPU per request (refused ${row.refused})`);
    return row;
  });
}

/** Median over rounds of `row`'s req/s (or CPU per request) ÷ `base`'s in the same round. */
function roundRatio(row: HttpRow, base: HttpRow, of: 'rps' | 'cpu'): number {
  const mine = of === 'rps' ? row.rpsByRound : row.cpuByRound;
  const theirs = of === 'rps' ? base.rpsByRound : base.cpuByRound;
  return median(mine.map((v, k) => v / theirs[k]));
}

/** A table of HTTP rows with ratios against some of them. */
function httpTable(title: string, rows: readonly HttpRow[], names: Record<string, string>, refusedHeader: string, ratios: Array<[string, string]>): string {
  const by = (mode: string) => rows.find((r) => r.mode === mode)!;
  return [
    `### ${title}`,
    '',
    `| server | req/s | p50 ms | p99 ms | server CPU µs per request | ${refusedHeader} |${ratios.map(([label]) => ` ${label}: req/s, CPU per request |`).join('')}`,
    `|---|---:|---:|---:|---:|---:|${ratios.map(() => '---:|').join('')}`,
    ...rows.map(
      (r) =>
        `| ${names[r.mode]} | ${fmt(r.rps)} | ${fmt(r.p50, 1)} | ${fmt(r.p99, 1)} | ${fmt(r.cpuUs)} | ${r.refused} |` +
        ratios.map(([, mode]) => ` ${fmt(roundRatio(r, by(mode), 'rps'), 2)}, ${fmt(roundRatio(r, by(mode), 'cpu'), 2)} |`).join(''),
    ),
    '',
  ].join('\n');
}

const GRAPHQL_QUERY = JSON.stringify({ query: '{ ping }' });
/** Apollo's answer to `{ ping }`: anything else (a refusal is `{"errors":[…],"data":null}`) counts as refused. */
const GRAPHQL_ANSWER = '{"data":{"ping":"pong"}}\n';

async function http(): Promise<{ markdown: string; rows: HttpRow[]; graphql: HttpRow[] }> {
  const issuer = await TestIssuer.start();
  const tokens = Array.from({ length: POOL }, (_, i) => issuer.sign({ sub: `user-${i}` }, { expiresInSec: 3600 }));
  const rows = await loadAlternating(issuer, tokens, 'http-server.js', ['none', 'limit', 'ours', 'strategy', 'usual'], { method: 'GET', path: '/r' });
  const graphql = await loadAlternating(issuer, tokens, 'graphql-server.js', ['none', 'limit', 'ours'], {
    method: 'POST',
    path: '/graphql',
    headers: { 'content-type': 'application/json' },
    body: GRAPHQL_QUERY,
    expectBody: GRAPHQL_ANSWER,
  });
  await issuer.close();
  const markdown = [
    httpTable(
      'HTTP, RS256, unique tokens (Nest 12 + Express, server and autocannon in separate processes, 32 connections, servers in alternating turns)',
      rows,
      {
        none: 'unguarded route',
        limit: 'guard: only crypto.verify + JSON.parse (the limit)',
        ours: 'ours: JwksAuthGuard',
        strategy: "ours: AuthGuard('jwks'), JwksStrategy through @nestjs/passport",
        usual: "usual recipe: AuthGuard('jwt'), passport-jwt + jwks-rsa",
      },
      'non-2xx',
      [
        ['× limit guard', 'limit'],
        ['× unguarded', 'none'],
        ['× JwksAuthGuard', 'ours'],
      ],
    ),
    httpTable(
      'GraphQL over HTTP, RS256, unique tokens (Nest 12 + Apollo on Express via @nestjs/apollo, query `{ ping }` by POST, same setup)',
      graphql,
      {
        none: 'unguarded resolver',
        limit: 'guard: only crypto.verify + JSON.parse (the limit), request from the GraphQL context',
        ours: 'ours: @UseGuards(JwksAuthGuard)',
      },
      'refused (non-2xx or not the data)',
      [
        ['× limit guard', 'limit'],
        ['× unguarded', 'none'],
      ],
    ),
  ].join('\n');
  return { markdown, rows, graphql };
}

function worstCaseTable(rows: WorstCase[]): string {
  return [
    '### Worst case: one junk token against the worst key set still accepted (in process)',
    '',
    'A junk token (valid claims, the kid of the set, a signature that does not verify, the heaviest payload `maxTokenBytes` allows) ' +
      'against a set of `maxKeys` keys sharing that kid, each as costly as `JWKS_LIMITS` accepts. ' +
      '"Normal verify" is raw `crypto.verify` of one typical signature of the same algorithm (RSA-2048 for RS256).',
    '',
    '| algorithm, keys | hostile set | µs per junk token | normal verify µs | × normal verify |',
    '|---|---|---:|---:|---:|',
    ...rows.map((r) => `| ${r.name} | ${r.set} | ${fmt(r.junkUs, 1)} | ${fmt(r.normalUs, 1)} | ${fmt(r.junkUs / r.normalUs, 1)} |`),
    '',
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const started = new Date().toISOString();
  const { markdown: inProc, results } = await inProcess();
  const worst = await measureWorstCases(SECONDS);
  for (const w of worst) console.log(`worst case ${w.name}: ${fmt(w.junkUs, 1)} µs per junk token, ${fmt(w.junkUs / w.normalUs, 1)} × a normal verify`);
  const routing = await measureIssuerRouting(ISSUER_SECONDS, POOL);
  const routingMd = issuerRoutingTable(routing, POOL);
  const strategy = await measureStrategyVsGuard(STRATEGY_SECONDS, POOL);
  const strategyMd = strategyTable(strategy, POOL);
  if (process.env.BENCH_IN_PROCESS_ONLY === '1') {
    console.log(`\n${inProc}\n${routingMd}\n${strategyMd}\n${worstCaseTable(worst)}`);
    process.exit(0);
  }
  const { markdown: httpMd, rows, graphql } = await http();

  const issuer = await TestIssuer.start();
  const { NestFactory } = await import('@nestjs/core');
  const { JwksAuthModule } = await import('../lib');
  const ctx = await NestFactory.createApplicationContext(JwksAuthModule.forRoot({ issuer: issuer.issuer, jwksUri: issuer.jwksUri, audience: issuer.audience }), { logger: false });
  await ctx.init();
  const mem = await measureMemory(issuer, ctx.get(JwtVerifier), ctx.get(JwksCacheService));
  await ctx.close();
  await issuer.close();
  const issuerMem = await measureIssuerMemory(100);
  const fleetMd = (await runFleetBench()) ?? '### Fleet mode\n\nNot measured: redis-server was not on PATH.\n\n';
  const { markdown: clientCredentialsMd } = await runClientCredentialsBench(SECONDS);

  const get = (key: string, name: string) => results[key].find((r) => r.name === name)!.opsPerSec;
  const rest = (mode: string) => rows.find((r) => r.mode === mode)!;
  const gql = (mode: string) => graphql.find((r) => r.mode === mode)!;
  const rs = 'RS256 unique tokens';
  const ratios = [
    ['ours / raw crypto.verify, RS256 unique, in process', get(rs, 'ours: JwtVerifier') / get(rs, 'raw crypto.verify (KeyObject)'), '≥ 0.75'],
    ['ours / raw crypto.verify, ES256 unique, in process', get('ES256 unique tokens', 'ours: JwtVerifier') / get('ES256 unique tokens', 'raw crypto.verify (KeyObject)'), '≥ 0.75'],
    ['ours / usual recipe, RS256, in process', get(rs, 'ours: JwtVerifier') / get(rs, 'usual recipe: passport-jwt + jwks-rsa'), '≥ 5'],
    ['ours / usual recipe, RS256, over HTTP, req/s, median of alternating rounds', roundRatio(rest('ours'), rest('usual'), 'rps'), '≥ 2'],
    [`${ROUTED_ISSUERS} issuers (tokens spread over all) / 1 issuer, RS256, in process, median of alternating rounds`, spreadRatio(routing, 'RS256'), '≥ 0.97'],
    [`${ROUTED_ISSUERS} issuers (tokens spread over all) / 1 issuer, ES256, in process, median of alternating rounds`, spreadRatio(routing, 'ES256'), '≥ 0.97'],
    [`${ROUTED_ISSUERS} issuers (every token from one) / 1 issuer, RS256, in process, median of alternating rounds`, singleRatio(routing, 'RS256'), '≥ 0.97'],
    [`${ROUTED_ISSUERS} issuers (every token from one) / 1 issuer, ES256, in process, median of alternating rounds`, singleRatio(routing, 'ES256'), '≥ 0.97'],
    ['ours with verified-token cache / raw, RS256 repeated token', get('RS256 one repeated token', 'ours: JwtVerifier, verified-token cache') / get('RS256 one repeated token', 'raw crypto.verify (KeyObject)'), '≥ 5'],
    ['ours / limit guard, over HTTP, req/s, median of alternating rounds', roundRatio(rest('ours'), rest('limit'), 'rps'), '≥ 0.9'],
    ["cost of AuthGuard('jwks') (our strategy through @nestjs/passport) / cost of JwksAuthGuard, RS256, in process per call, median of alternating rounds", strategyCost(strategy), '≤ 1.2'],
    ["cost of AuthGuard('jwks') / cost of JwksAuthGuard, over HTTP, server CPU per request, median of alternating rounds", roundRatio(rest('strategy'), rest('ours'), 'cpu'), '≤ 1.2'],
    ["cost of AuthGuard('jwks') / cost of JwksAuthGuard, over HTTP, by req/s (JwksAuthGuard's ÷ AuthGuard('jwks')'s), median of alternating rounds", 1 / roundRatio(rest('strategy'), rest('ours'), 'rps'), '≤ 1.2'],
    ['guarded GraphQL query / the same query unguarded, over HTTP (Apollo on Express), req/s, median of alternating rounds', roundRatio(gql('ours'), gql('none'), 'rps'), 'none set (REST: the HTTP table)'],
    ['guarded GraphQL query / the same query unguarded, over HTTP, server CPU per request, median of alternating rounds', roundRatio(gql('ours'), gql('none'), 'cpu'), 'none set (REST: the HTTP table)'],
    ['guarded GraphQL query / the same query behind the limit guard, over HTTP, req/s, median of alternating rounds', roundRatio(gql('ours'), gql('limit'), 'rps'), 'none set (REST: ≥ 0.9)'],
    ['worst junk token (RS256, hostile set) / one RS256 verify, in process', worst[0].junkUs / worst[0].normalUs, 'bounded (see the worst-case table)'],
  ] as const;
  const summary = [
    '### Targets',
    '',
    '| ratio | measured | target |',
    '|---|---:|---|',
    ...ratios.map(([name, value, target]) => `| ${name} | ${fmt(value, 2)} | ${target} |`),
    '',
    '### Memory',
    '',
    `| what | measured |`,
    '|---|---:|',
    `| JS heap per cached key (RSA-2048, parsed once into a KeyObject; OpenSSL's own copy of the key lives outside the JS heap) | ${fmt(mem.bytesPerCachedKey)} B |`,
    `| heap per verified-token cache entry (typical access-token claims) | ${fmt(mem.bytesPerVerifiedTokenEntry)} B |`,
    `| the same entry as the cache's byte budget counts it (conservative estimate) | ${fmt(mem.estimatedBytesPerVerifiedTokenEntry)} B |`,
    `| heap growth after 1,000,000 distinct unknown kids | ${fmt(mem.heapGrowthAfterMillionUnknownKidsBytes / 1024)} KiB |`,
    `| JS heap per issuer: ${issuerMem.issuersAdded} added with \`addIssuer()\` to a 1-issuer module, each with its own RS256 set of ${issuerMem.keysPerSet.join(' or ')} keys (key set, parsed keys, route, refresh timer, the memory store's copy), retained after gc | ${fmt(issuerMem.bytesPerIssuer)} B (${fmt(issuerMem.bytesPerIssuer / 1024, 1)} KiB) |`,
    '',
  ].join('\n');

  const header = [
    '# Benchmark results',
    '',
    `Measured ${started} on ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}, ` +
      `${+SECONDS.toFixed(1)} s per in-process contender after warm-up (${+ISSUER_SECONDS.toFixed(1)} s in alternating turns for issuer routing, ${+STRATEGY_SECONDS.toFixed(1)} s for strategy against guard), ` +
      `${+HTTP_SECONDS.toFixed(1)} s per HTTP server in alternating turns of ${HTTP_TURN_SECONDS} s (the servers of a table take turns round after round; its ratios are medians of the per-round ratios). ` +
      'Reproduce with `npm run bench` (BENCH_SECONDS / BENCH_HTTP_SECONDS to change the durations). ' +
      'Absolute numbers drift between machines and runs; compare the ratios, measured in one run.',
    '',
  ].join('\n');
  const doc = `${header}${summary}\n${inProc}${routingMd}${strategyMd}${worstCaseTable(worst)}\n${httpMd}${fleetMd}${clientCredentialsMd}`;
  writeFileSync(join(__dirname, '..', '..', 'bench', 'RESULTS.md'), doc);
  console.log(`\n${doc}`);
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
