import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { JwksAuthModule, JwtVerifier, type JwksAuthModuleOptions } from '../lib';
import { TestIssuer } from '../lib/testing';
import { measureAlternating, type AlternatingContender, type Measurement } from './measure';

/** Issuers behind one module in the routed contenders. */
export const ROUTED_ISSUERS = 10;

/**
 * Length of one contender's turn in the alternating measurement: a few hundred RS256 or about a
 * hundred ES256 verifications, short enough that neighbouring turns see the same machine.
 */
export const TURN_MS = 10;

/** One contender's figures over all rounds, and its ratio against the one-issuer verifier. */
export interface IssuerRoutingRow extends Measurement {
  alg: string;
  rounds: number;
  /** Median over rounds of (this contender's ops/s ÷ the one-issuer verifier's ops/s in the same round). */
  ratio: number;
  /** First and third quartile of the per-round ratios: the noise the median filters out. */
  ratioQ1: number;
  ratioQ3: number;
}

const ONE = 'ours: JwtVerifier, 1 issuer (shorthand options)';
const CONTROL = 'the same 1-issuer verifier again (control: noise floor)';
const SPREAD = `ours: JwtVerifier, ${ROUTED_ISSUERS} issuers, tokens spread over all ${ROUTED_ISSUERS}`;
const SINGLE = `ours: JwtVerifier, ${ROUTED_ISSUERS} issuers, every token from one of them`;

/** The q-quantile (0..1) of `values`, interpolated. */
export const quantile = (values: readonly number[], q: number): number => {
  const s = [...values].sort((a, b) => a - b);
  const at = (s.length - 1) * q;
  const lo = Math.floor(at);
  return s[lo] + (s[Math.min(lo + 1, s.length - 1)] - s[lo]) * (at - lo);
};

async function context(options: JwksAuthModuleOptions): Promise<INestApplicationContext> {
  const ctx = await NestFactory.createApplicationContext(JwksAuthModule.forRoot(options), { logger: false });
  await ctx.init();
  return ctx;
}

/**
 * Routing cost: the verifier of a one-issuer module (today's shorthand) against the verifier of a
 * module serving `ROUTED_ISSUERS` issuers, each a TestIssuer of its own (own key, own JWKS, own
 * key set), in one process on tokens of the same shape. Three per cent is inside the drift of
 * separate timed runs, so the contenders take turns of `TURN_MS` (`measureAlternating`) and each
 * round yields a ratio against the one-issuer verifier's turn in that same round; the table
 * reports the median ratio. A control measures the one-issuer verifier against itself: its median
 * shows the bias of the method (≈ 1), its quartiles the noise of one round.
 */
export async function measureIssuerRouting(seconds: number, pool: number): Promise<IssuerRoutingRow[]> {
  const rows: IssuerRoutingRow[] = [];
  for (const alg of ['RS256', 'ES256'] as const) {
    const issuers = await Promise.all(Array.from({ length: ROUTED_ISSUERS }, () => TestIssuer.start({ alg })));
    const audience = issuers[0].audience;
    const claims = (i: number) => ({ sub: `user-${i}`, scope: 'read:profile write:profile' });
    const fromFirst = Array.from({ length: pool }, (_, i) => issuers[0].sign(claims(i), { expiresInSec: 3600 }));
    const spread = Array.from({ length: pool }, (_, i) => issuers[i % ROUTED_ISSUERS].sign(claims(i), { expiresInSec: 3600 }));

    const one = await context({ issuer: issuers[0].issuer, jwksUri: issuers[0].jwksUri, audience, algorithms: [alg], strategyName: 'bench-one-issuer' });
    const ten = await context({
      issuers: issuers.map((t) => ({ issuer: t.issuer, jwksUri: t.jwksUri, audience })),
      algorithms: [alg],
      strategyName: 'bench-ten-issuers',
    });
    const oneVerifier = one.get(JwtVerifier);
    const tenVerifier = ten.get(JwtVerifier);
    const contenders: AlternatingContender[] = [
      { name: ONE, fn: (t) => oneVerifier.verifyOrDefer(t), tokens: fromFirst },
      { name: SPREAD, fn: (t) => tenVerifier.verifyOrDefer(t), tokens: spread },
      { name: SINGLE, fn: (t) => tenVerifier.verifyOrDefer(t), tokens: fromFirst },
      { name: CONTROL, fn: (t) => oneVerifier.verifyOrDefer(t), tokens: fromFirst },
    ];
    const measured = await measureAlternating(contenders, seconds, TURN_MS);
    const base = measured[0].opsPerSecByRound;
    for (const m of measured) {
      const ratios = m.opsPerSecByRound.map((ops, r) => ops / base[r]);
      const row = { alg, name: m.name, opsPerSec: m.opsPerSec, p50us: m.p50us, p99us: m.p99us, rounds: ratios.length, ratio: quantile(ratios, 0.5), ratioQ1: quantile(ratios, 0.25), ratioQ3: quantile(ratios, 0.75) };
      rows.push(row);
      console.log(`${alg} issuers: ${m.name}: ${Math.round(m.opsPerSec)} ops/s, × 1 issuer ${row.ratio.toFixed(3)} (quartiles ${row.ratioQ1.toFixed(3)}–${row.ratioQ3.toFixed(3)})`);
    }
    await ten.close();
    await one.close();
    await Promise.all(issuers.map((t) => t.close()));
  }
  return rows;
}

/** The routing table for RESULTS.md. */
export function issuerRoutingTable(rows: readonly IssuerRoutingRow[], pool: number): string {
  const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
  const out: string[] = [
    `### Routing among ${ROUTED_ISSUERS} issuers (in process)`,
    '',
    `The verifier of a one-issuer module (\`issuer\`, \`jwksUri\`, \`audience\`) against the verifier of a module with \`issuers: [...]\` of ${ROUTED_ISSUERS} ` +
      `TestIssuers (each its own key, JWKS endpoint and key set), same process, ${fmt(pool)} unique tokens of the same shape per contender. ` +
      '"Spread" sends the tokens of all ten issuers in turn; "from one of them" sends only the first issuer\'s tokens, the same ones the one-issuer verifier gets.',
    '',
    `Method: a 3 % difference is inside the drift between two runs of a few seconds on a shared machine (another process, CPU frequency, GC), ` +
      `so the contenders are not measured one after the other. After each one's warm-up they take turns of ${TURN_MS} ms (the same timed loop as the tables above), ` +
      'round after round, the order reversed every other round. Within a round the machine is nearly the same for every contender, so each round gives a ' +
      'ratio to the one-issuer verifier\'s turn in that round; the table reports the median of those ratios and their quartiles. ' +
      'ops/s, p50 and p99 are over all of a contender\'s turns. The control runs the one-issuer verifier against itself: its median shows the bias of the method (1 when there is none), ' +
      'its quartiles the noise of a single round. The verified-token cache is off: a cache hit returns before routing.',
    '',
    '',
  ];
  for (const alg of new Set(rows.map((r) => r.alg))) {
    out.push(
      `#### ${alg}, one issuer vs ${ROUTED_ISSUERS} issuers, ${fmt(pool)} unique tokens (${fmt(rows.find((r) => r.alg === alg)!.rounds)} alternating rounds of ${TURN_MS} ms turns)`,
      '',
      '| contender | ops/s | p50 µs | p99 µs | × 1 issuer (median of rounds) | quartiles of the rounds |',
      '|---|---:|---:|---:|---:|---:|',
      ...rows
        .filter((r) => r.alg === alg)
        .map((r) => `| ${r.name} | ${fmt(r.opsPerSec)} | ${fmt(r.p50us, 1)} | ${fmt(r.p99us, 1)} | ${fmt(r.ratio, 3)} | ${fmt(r.ratioQ1, 3)} – ${fmt(r.ratioQ3, 3)} |`),
      '',
      '',
    );
  }
  return out.join('\n');
}

/** The median ratio of the tokens-spread contender for `alg` (the Issuers target). */
export function spreadRatio(rows: readonly IssuerRoutingRow[], alg: string): number {
  return rows.find((r) => r.alg === alg && r.name === SPREAD)!.ratio;
}

/** The median ratio of the every-token-from-one-issuer contender for `alg`. */
export function singleRatio(rows: readonly IssuerRoutingRow[], alg: string): number {
  return rows.find((r) => r.alg === alg && r.name === SINGLE)!.ratio;
}
