import { renderChart, niceCeiling } from '../../ops/drill/drill.chart';
import { countsSince, parseCounts } from '../../ops/drill/drill.metrics';
import { drillPlan } from '../../ops/drill/drill.plan';
import { DrillRecord } from '../../ops/drill/drill.record';
import { drillChecks, jestShapedReport, summaryRows, type DrillFindings } from '../../ops/drill/drill.report';

// The rotation drill's pure parts: what it counts, what it concludes, what it draws. The drill
// itself runs end to end in CI (`npm run drill -- --short`).

const T0 = 1_000_000;

function healthyRun(): { record: DrillRecord; findings: DrillFindings } {
  const plan = drillPlan(true);
  const record = new DrillRecord(T0);
  let now = T0;
  for (const spec of plan.phases) {
    record.phase(spec.id, spec.title, now, spec.label);
    record.response(now + 10, 'valid', 200);
    if (spec.id === 'unannounced-rotation') record.response(now + 20, 'made-up', 401);
    if (spec.id === 'revoke') record.response(now + 30, 'leaked', 401);
    record.upstream(now + 40, 1);
    now += Math.max(1_000, spec.durationMs);
  }
  record.end(now);
  const findings: DrillFindings = {
    fleet: true,
    instances: 2,
    coldStartMs: 1_500,
    coldStartUpstream: 1,
    plannedFirstAcceptedMs: 20,
    unannouncedFirstAcceptedMs: [1_900, 2_000],
    staleServingMs: [5_000, 5_000],
    rateLimit: { resetAfterMs: 5_000, requestsBeforeReset: 1, requestsAfterReset: 1 },
    revoke: { statuses: [202], refusedEverywhereMs: 20, acceptedAfterRefusal: 0 },
    metrics: new Map(),
    casualties: [],
  };
  return { record, findings };
}

describe('rotation drill', () => {
  it('counts answers by kind: refused valid tokens apart from rightly refused ones', () => {
    const record = new DrillRecord(T0, 250);
    record.phase('steady', 'steady', T0);
    record.response(T0 + 10, 'valid', 200);
    record.response(T0 + 20, 'valid', 401);
    record.response(T0 + 30, 'valid', 503);
    record.response(T0 + 300, 'made-up', 401);
    record.response(T0 + 310, 'leaked', 200);
    record.response(T0 + 320, 'valid', 0);
    record.upstream(T0 + 600, 2);
    const tally = record.phases.get('steady')!;
    expect(tally).toMatchObject({ accepted: 2, refused: 3, validRefused: 2, unavailable: 1, madeUpRefused: 1, leakedAccepted: 1, errors: 1, upstream: 2 });
    expect(record.buckets.map((b) => [b.accepted, b.validRefused, b.expectedRefused, b.upstream])).toEqual([
      [1, 2, 0, 0],
      [1, 1, 1, 0],
      [0, 0, 0, 2],
    ]);
  });

  it('passes every check on a healthy run, and fails the ones a regression breaks', () => {
    const plan = drillPlan(true);
    const { record, findings } = healthyRun();
    const healthy = drillChecks(plan, record, findings);
    expect(healthy.filter((c) => !c.passed)).toEqual([]);

    // A cold start where each instance fetched, a lockout past the cooldown, a request before the
    // IdP's reset, a revocation that did not spread, a refused valid token in the steady phase.
    record.phases.get('steady')!.validRefused = 3;
    const broken = drillChecks(plan, record, {
      ...findings,
      coldStartUpstream: 2,
      unannouncedFirstAcceptedMs: [1_000, null],
      rateLimit: { ...findings.rateLimit, requestsBeforeReset: 3 },
      revoke: { statuses: [202], refusedEverywhereMs: null, acceptedAfterRefusal: 0 },
      casualties: ['instance-2 exited (SIGSEGV)'],
    });
    const failed = broken.filter((c) => !c.passed).map((c) => c.name);
    expect(failed).toEqual([
      'cold start: every instance ready, one JWKS request per fleet',
      'steady: no valid token refused',
      'unannounced rotation: the new key accepted by every instance within one cooldown',
      'rate limited: no JWKS request before x-ratelimit-reset',
      'revoke: the webhook took the notice and every instance refuses the key within 1 s',
      'revoke: no token of the revoked key accepted afterwards, cached or not',
      'no instance crashed',
    ]);
    const report = jestShapedReport(broken) as { numPassedTests: number; numFailedTests: number };
    expect(report.numFailedTests).toBe(7);
    expect(report.numPassedTests).toBe(broken.length - 7);
  });

  it('fails the revocation when a token of the revoked key is still accepted after the first refusal (a verified-token cache that ignores revocation)', () => {
    const plan = drillPlan(true);
    const { record, findings } = healthyRun();
    const checks = drillChecks(plan, record, { ...findings, revoke: { statuses: [202], refusedEverywhereMs: 20, acceptedAfterRefusal: 3 } });
    expect(checks.filter((c) => !c.passed).map((c) => c.name)).toEqual(['revoke: no token of the revoked key accepted afterwards, cached or not']);
    expect(checks.find((c) => !c.passed)!.detail).toBe('3 accepted after every instance refused the key');
  });

  it('allows one request per instance without a fleet', () => {
    const plan = drillPlan(true);
    const { record, findings } = healthyRun();
    const checks = drillChecks(plan, record, { ...findings, fleet: false, coldStartUpstream: 2, rateLimit: { ...findings.rateLimit, requestsBeforeReset: 2 } });
    expect(checks.filter((c) => !c.passed)).toEqual([]);
  });

  it('summarises one row per phase with its own duration', () => {
    const plan = drillPlan(true);
    const { record, findings } = healthyRun();
    const rows = summaryRows(plan, record, findings);
    expect(rows.map((r) => r[0])).toEqual(plan.phases.map((p) => p.title));
    expect(rows.find((r) => r[0] === 'steady traffic')![1]).toBe(`${(plan.phases[1].durationMs / 1000).toFixed(2)} s`);
  });

  it('reads the refusal reasons and unknown-kid actions from a Prometheus scrape', () => {
    const scrape = (cooldown: number) =>
      [
        '# HELP jwks_auth_verifications_total Tokens verified.',
        `jwks_auth_verifications_total{issuer="https://a/",result="refused",reason="ERR_JWKS_COOLDOWN"} ${cooldown}`,
        'jwks_auth_verifications_total{issuer="https://a/",result="accepted",reason=""} 90',
        `jwks_auth_unknown_kids_total{issuer="https://a/",action="cooldown"} ${cooldown}`,
        'jwks_auth_unknown_kids_total{issuer="https://a/",action="refetch"} 1',
      ].join('\n');
    const counts = countsSince(parseCounts(scrape(5)), parseCounts(scrape(12)));
    expect([...counts.refusals]).toEqual([['ERR_JWKS_COOLDOWN', 7]]);
    expect([...counts.unknownKids]).toEqual([['cooldown', 7]]);
  });

  it('draws a well-formed SVG with a band per phase and escapes its text', () => {
    const { record } = healthyRun();
    record.mark(T0 + 5_000, 'a <marker> & more');
    const svg = renderChart({ title: 'Drill "one"', buckets: record.buckets, bucketMs: record.bucketMs, phases: record.phaseStarts, markers: record.markers });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('a &#60;marker&#62; &#38; more');
    expect(svg).not.toMatch(/<marker>/);
    for (const phase of record.phaseStarts) expect(svg).toContain(`>${phase.title}</text>`);
    expect(svg.match(/<polyline /g)).toHaveLength(3);
    expect(svg).not.toContain('NaN');
    expect([niceCeiling(0), niceCeiling(3), niceCeiling(120), niceCeiling(1000)]).toEqual([1, 5, 200, 1000]);
  });
});
