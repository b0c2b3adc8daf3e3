import type { MetricCounts } from './drill.metrics';
import { describeCounts } from './drill.metrics';
import type { DrillPlan, PhaseId } from './drill.plan';
import type { DrillRecord, PhaseTally } from './drill.record';

/**
 * The drill's verdict: a summary table, the timeline and the checks CI counts. Pure: it reads what
 * the run recorded and measured.
 */

/** What the run measured beyond the counts. Times in ms; null when it never happened. */
/** What the run measured beyond the counts, filled in phase by phase. Times in ms; null when it never happened. */
export interface DrillMeasurements {
  coldStartMs: number;
  /** JWKS requests during the cold start (discovery documents not counted). */
  coldStartUpstream: number;
  /** From signing with the published next key to its first accepted token. */
  plannedFirstAcceptedMs: number | null;
  /** From the unannounced rotation to the first accepted token of the new key, per instance. */
  unannouncedFirstAcceptedMs: Array<number | null>;
  /** Per instance: how long its key set was served past its freshness (phase stale or expired) during the outage. */
  staleServingMs: number[];
  /**
   * The 429 phase: when the IdP's x-ratelimit-reset allowed the next request, and the requests
   * before it (each answered 429) and after it.
   */
  rateLimit: { resetAfterMs: number; requestsBeforeReset: number; requestsAfterReset: number };
  /** The webhook's answer to the revoke notice(s), and from the notice to the revoked key being refused by every instance. */
  revoke: {
    statuses: number[];
    refusedEverywhereMs: number | null;
    /** Tokens of the revoked key accepted after every instance refused one (every token probed on every instance, then the traffic). */
    acceptedAfterRefusal: number;
  };
}

/** The measurements, with how the drill ran and what it read from the instances. */
export type DrillFindings = Readonly<DrillMeasurements> & {
  readonly fleet: boolean;
  readonly instances: number;
  /** Per phase, the module's own counts from /metrics (summed over instances). */
  readonly metrics: ReadonlyMap<PhaseId, MetricCounts>;
  /** Instances that exited or stopped answering /health/live. */
  readonly casualties: readonly string[];
};

export interface DrillCheck {
  readonly name: string;
  readonly passed: boolean;
  readonly detail: string;
}

const seconds = (ms: number | null) => (ms === null ? 'never' : `${(ms / 1000).toFixed(2)} s`);

/** The bounds a healthy module keeps; each failed one is a failed test in CI. */
export function drillChecks(plan: DrillPlan, record: DrillRecord, findings: DrillFindings): DrillCheck[] {
  const tally = (id: PhaseId): PhaseTally => record.phases.get(id) ?? ({ validRefused: -1 } as PhaseTally);
  const perFetch = findings.fleet ? 1 : findings.instances;
  const checks: DrillCheck[] = [];
  const check = (name: string, passed: boolean, detail: string) => checks.push({ name, passed, detail });
  check(
    'cold start: every instance ready, one JWKS request per fleet',
    findings.coldStartUpstream >= 1 && findings.coldStartUpstream <= perFetch,
    `${findings.coldStartUpstream} request(s) for ${findings.instances} instance(s) ${findings.fleet ? 'in a fleet' : 'without a fleet'}`,
  );
  for (const id of ['steady', 'planned-rotation', 'issuer-down', 'rate-limited'] as const) {
    const t = tally(id);
    check(`${id}: no valid token refused`, t.validRefused === 0 && t.errors === 0, `${t.validRefused} refused, ${t.errors} unanswered`);
  }
  check('planned rotation: the next key accepted from its first token', findings.plannedFirstAcceptedMs !== null && tally('planned-rotation').validRefused === 0, `first accepted after ${seconds(findings.plannedFirstAcceptedMs)}`);
  const unannounced = tally('unannounced-rotation');
  const worst = findings.unannouncedFirstAcceptedMs.reduce<number | null>((max, v) => (v === null || max === null ? null : Math.max(max, v)), 0);
  // Unknown kids are refetched at most once per cooldown, so a flood just before the rotation can
  // hold the real new key off for up to one cooldown (plus a fetch and the drill's tick).
  check(
    'unannounced rotation: the new key accepted by every instance within one cooldown',
    worst !== null && worst <= plan.cache.cooldownMs + 1_500,
    `slowest instance ${seconds(worst)} (cooldown ${seconds(plan.cache.cooldownMs)})`,
  );
  const floodBound = (Math.ceil(plan.phases.find((p) => p.id === 'unannounced-rotation')!.durationMs / plan.cache.cooldownMs) + 2) * perFetch;
  check('unannounced rotation: the flood costs at most one JWKS request per cooldown', unannounced.upstream <= floodBound, `${unannounced.upstream} request(s), bound ${floodBound}`);
  check('unannounced rotation: every made-up kid refused', unannounced.madeUpAccepted === 0 && unannounced.madeUpRefused > 0, `${unannounced.madeUpRefused} refused, ${unannounced.madeUpAccepted} accepted`);
  const minStale = Math.min(...findings.staleServingMs);
  check('issuer down: the last good set served past its freshness, no valid token refused', minStale > 0 && tally('issuer-down').validRefused === 0, `stale-serving ${findings.staleServingMs.map((v) => seconds(v)).join(', ')}`);
  check(
    'rate limited: no JWKS request before x-ratelimit-reset',
    findings.rateLimit.requestsBeforeReset >= 1 && findings.rateLimit.requestsBeforeReset <= perFetch,
    `${findings.rateLimit.requestsBeforeReset} request(s) before the reset (each answered 429), ${findings.rateLimit.requestsAfterReset} after`,
  );
  check('rate limited: refetched once the reset passed', findings.rateLimit.requestsAfterReset >= 1, `${findings.rateLimit.requestsAfterReset} request(s) after the reset`);
  check(
    'revoke: the webhook took the notice and every instance refuses the key within 1 s',
    findings.revoke.statuses.length > 0 && findings.revoke.statuses.every((s) => s === 202) && findings.revoke.refusedEverywhereMs !== null && findings.revoke.refusedEverywhereMs <= 1_000,
    `webhook ${findings.revoke.statuses.join(', ')}; refused everywhere after ${seconds(findings.revoke.refusedEverywhereMs)}`,
  );
  check(
    'revoke: no token of the revoked key accepted afterwards, cached or not',
    findings.revoke.refusedEverywhereMs !== null && findings.revoke.acceptedAfterRefusal === 0,
    `${findings.revoke.acceptedAfterRefusal} accepted after every instance refused the key`,
  );
  check('revoke: valid tokens of the other key still accepted', tally('revoke').validRefused === 0, `${tally('revoke').validRefused} refused`);
  check('no instance crashed', findings.casualties.length === 0, findings.casualties.join('; ') || 'all alive');
  return checks;
}

/** Plain-text table with aligned columns. */
export function formatTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** The summary: one row per phase. */
export function summaryRows(plan: DrillPlan, record: DrillRecord, findings: DrillFindings): string[][] {
  const rows: string[][] = [];
  for (const spec of plan.phases) {
    const t = record.phases.get(spec.id);
    if (!t) continue;
    const notes: string[] = [];
    if (spec.id === 'cold-start') notes.push(`ready after ${seconds(findings.coldStartMs)}`);
    if (spec.id === 'planned-rotation') notes.push(`new kid accepted after ${seconds(findings.plannedFirstAcceptedMs)}`);
    if (spec.id === 'unannounced-rotation') {
      notes.push(`new kid accepted after ${findings.unannouncedFirstAcceptedMs.map(seconds).join(' / ')}`);
      notes.push(`${t.madeUpRefused} made-up kids refused`);
    }
    if (spec.id === 'issuer-down') notes.push(`stale-serving ${findings.staleServingMs.map(seconds).join(' / ')}`);
    if (spec.id === 'rate-limited') notes.push(`reset after ${seconds(findings.rateLimit.resetAfterMs)}; ${findings.rateLimit.requestsBeforeReset} request(s) before it (answered 429), ${findings.rateLimit.requestsAfterReset} after`);
    if (spec.id === 'revoke') notes.push(`revoked key refused everywhere ${seconds(findings.revoke.refusedEverywhereMs)} after the notice; its tokens: ${t.leakedAccepted} accepted (${findings.revoke.acceptedAfterRefusal} of them after that), ${t.leakedRefused} refused`);
    const counts = findings.metrics.get(spec.id);
    const reasons = counts ? describeCounts(counts.refusals) : '';
    if (reasons) notes.push(`refusals by reason (the instances' /metrics): ${reasons}`);
    rows.push([
      spec.title,
      seconds(t.endedAt - t.startedAt),
      String(t.accepted),
      String(t.refused),
      String(t.validRefused + t.errors),
      String(t.upstream),
      notes.join('; '),
    ]);
  }
  return rows;
}

export const SUMMARY_HEADER = ['phase', 'duration', 'accepted', 'refused', 'valid refused', 'JWKS requests', 'notes'] as const;

export function formatTimeline(record: DrillRecord): string {
  return record.timeline.map((e) => `  ${(e.at / 1000).toFixed(2).padStart(7)} s  ${e.text}`).join('\n');
}

/**
 * The checks in the shape of a Jest JSON report (`numPassedTests`, `numFailedTests`, …), so CI sums
 * them with the test suites'.
 */
export function jestShapedReport(checks: readonly DrillCheck[]): object {
  const failed = checks.filter((c) => !c.passed).length;
  return {
    numPassedTests: checks.length - failed,
    numFailedTests: failed,
    numRuntimeErrorTestSuites: 0,
    numTotalTests: checks.length,
    success: failed === 0,
    testResults: [
      {
        name: 'rotation drill',
        status: failed === 0 ? 'passed' : 'failed',
        assertionResults: checks.map((c) => ({ title: c.name, fullName: `rotation drill ${c.name}`, status: c.passed ? 'passed' : 'failed', failureMessages: c.passed ? [] : [c.detail] })),
      },
    ],
  };
}
