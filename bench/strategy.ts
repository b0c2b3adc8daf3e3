import type { CanActivate, ExecutionContext, INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { AuthGuard } from '@nestjs/passport';
import { JwksAuthGuard, JwksAuthModule, JwtVerifier } from '../lib';
import { TestIssuer } from '../lib/testing';
import { measureAlternating, type AlternatingContender, type Measurement } from './measure';
import { quantile, TURN_MS } from './issuers';

/** One contender's figures over all rounds, and its cost against the guard's in the same rounds. */
export interface StrategyRow extends Measurement {
  rounds: number;
  /** Median over rounds of (the guard's ops/s ÷ this contender's ops/s): its time per call in guard calls. */
  cost: number;
  /** First and third quartile of the per-round cost ratios. */
  costQ1: number;
  costQ3: number;
}

export const GUARD = 'ours: JwksAuthGuard.canActivate';
export const STRATEGY = "AuthGuard('jwks').canActivate: our JwksStrategy through @nestjs/passport";
const VERIFIER = 'ours: JwtVerifier alone (what both contain)';
const CONTROL = 'JwksAuthGuard again (control: noise floor)';

/** The route the contexts point at: the guard memoises `@Public()` and grants per handler. */
class BenchController {
  r(): void {}
}

/**
 * An HTTP execution context as Nest builds one per request: a fresh request (both guards write
 * `request.user`, passport also `authInfo` and `logIn`), the same response object.
 */
function contextFor(token: string): ExecutionContext {
  const req = { headers: { authorization: `Bearer ${token}` } };
  return new ExecutionContextHost([req, {}, () => undefined], BenchController, BenchController.prototype.r);
}

/**
 * The Passport strategy against the guard, per call in one process: `canActivate` of
 * `AuthGuard('jwks')` (@nestjs/passport's guard, `passport.authenticate` of our `JwksStrategy`,
 * which verifies once with the module's `JwtVerifier`) and of `JwksAuthGuard` (the verifier
 * called directly), each on a fresh execution context per call, RS256 unique tokens (the cheapest
 * signature, so the per-request machinery weighs most). The difference is a few microseconds on a
 * ~25 µs call, inside the drift of separate runs, so the contenders take alternating turns
 * (`measureAlternating`) and the cost ratio is the median over rounds. The verifier alone shows
 * what the guard itself adds; the control, the noise of the method.
 */
export async function measureStrategyVsGuard(seconds: number, pool: number): Promise<StrategyRow[]> {
  const issuer = await TestIssuer.start({ alg: 'RS256' });
  const tokens = Array.from({ length: pool }, (_, i) => issuer.sign({ sub: `user-${i}`, scope: 'read:profile write:profile' }, { expiresInSec: 3600 }));
  // The default strategy name: AuthGuard('jwks') meets the strategy this module registered.
  const ctx: INestApplicationContext = await NestFactory.createApplicationContext(
    JwksAuthModule.forRoot({ issuer: issuer.issuer, jwksUri: issuer.jwksUri, audience: issuer.audience, algorithms: ['RS256'] }),
    { logger: false },
  );
  await ctx.init();
  const guard = ctx.get(JwksAuthGuard);
  const verifier = ctx.get(JwtVerifier);
  const PassportGuard = AuthGuard('jwks');
  const strategy: CanActivate = new PassportGuard();

  const contenders: AlternatingContender[] = [
    { name: GUARD, fn: (t) => guard.canActivate(contextFor(t)), tokens },
    { name: STRATEGY, fn: (t) => strategy.canActivate(contextFor(t)), tokens },
    { name: VERIFIER, fn: (t) => verifier.verifyOrDefer(t), tokens },
    { name: CONTROL, fn: (t) => guard.canActivate(contextFor(t)), tokens },
  ];
  const measured = await measureAlternating(contenders, seconds, TURN_MS);
  const base = measured[0].opsPerSecByRound;
  const rows: StrategyRow[] = measured.map((m) => {
    const costs = m.opsPerSecByRound.map((ops, r) => base[r] / ops);
    const row = { name: m.name, opsPerSec: m.opsPerSec, p50us: m.p50us, p99us: m.p99us, rounds: costs.length, cost: quantile(costs, 0.5), costQ1: quantile(costs, 0.25), costQ3: quantile(costs, 0.75) };
    console.log(`strategy vs guard: ${m.name}: ${Math.round(m.opsPerSec)} ops/s, cost × guard ${row.cost.toFixed(3)} (quartiles ${row.costQ1.toFixed(3)}–${row.costQ3.toFixed(3)})`);
    return row;
  });
  await ctx.close();
  await issuer.close();
  return rows;
}

/** The strategy-vs-guard table for RESULTS.md. */
export function strategyTable(rows: readonly StrategyRow[], pool: number): string {
  const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
  return [
    `### Passport strategy against the guard, per call (in process, RS256, ${fmt(pool)} unique tokens, ${fmt(rows[0].rounds)} alternating rounds of ${TURN_MS} ms turns)`,
    '',
    "`canActivate` of `AuthGuard('jwks')` (@nestjs/passport's guard running `passport.authenticate` with our `JwksStrategy`, which verifies once with the " +
      "module's `JwtVerifier`) against `JwksAuthGuard.canActivate` (the same verifier, called directly), each on a fresh HTTP execution context and request per call. " +
      'Cost is time per call as a multiple of the guard\'s: the median over rounds of the guard\'s ops/s ÷ the contender\'s in the same round (the method of the routing table above).',
    '',
    '| contender | ops/s | p50 µs | p99 µs | cost × guard (median of rounds) | quartiles of the rounds |',
    '|---|---:|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.name} | ${fmt(r.opsPerSec)} | ${fmt(r.p50us, 1)} | ${fmt(r.p99us, 1)} | ${fmt(r.cost, 3)} | ${fmt(r.costQ1, 3)} – ${fmt(r.costQ3, 3)} |`),
    '',
    '',
  ].join('\n');
}

/** The strategy's median cost per call in guard calls (the ≤ 1.2 target). */
export function strategyCost(rows: readonly StrategyRow[]): number {
  return rows.find((r) => r.name === STRATEGY)!.cost;
}
