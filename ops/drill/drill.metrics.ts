/**
 * Reads the sample app's /metrics (Prometheus text format) for the drill's per-phase notes: which
 * refusal reasons and unknown-kid actions the module counted, as the dashboard would show them.
 * Only the counters it needs; pure.
 */

/** `reason=count` for refusals, `action=count` for unknown kids, summed over issuers. */
export interface MetricCounts {
  refusals: Map<string, number>;
  unknownKids: Map<string, number>;
}

const LINE = /^(jwks_auth_verifications_total|jwks_auth_unknown_kids_total)\{([^}]*)\}\s+([0-9.eE+-]+)$/;
const LABEL = /(\w+)="((?:[^"\\]|\\.)*)"/g;

export function parseCounts(text: string): MetricCounts {
  const counts: MetricCounts = { refusals: new Map(), unknownKids: new Map() };
  for (const line of text.split('\n')) {
    const match = LINE.exec(line);
    if (match === null) continue;
    const labels = new Map<string, string>();
    for (const label of match[2].matchAll(LABEL)) labels.set(label[1], label[2]);
    const value = Number(match[3]);
    if (!Number.isFinite(value)) continue;
    if (match[1] === 'jwks_auth_verifications_total') {
      if (labels.get('result') !== 'refused') continue;
      const reason = labels.get('reason') ?? '';
      counts.refusals.set(reason, (counts.refusals.get(reason) ?? 0) + value);
    } else {
      const action = labels.get('action') ?? '';
      counts.unknownKids.set(action, (counts.unknownKids.get(action) ?? 0) + value);
    }
  }
  return counts;
}

/** Adds several instances' counts. */
export function sumCounts(all: readonly MetricCounts[]): MetricCounts {
  const total: MetricCounts = { refusals: new Map(), unknownKids: new Map() };
  for (const counts of all) {
    for (const [k, v] of counts.refusals) total.refusals.set(k, (total.refusals.get(k) ?? 0) + v);
    for (const [k, v] of counts.unknownKids) total.unknownKids.set(k, (total.unknownKids.get(k) ?? 0) + v);
  }
  return total;
}

/** What was counted between two scrapes. */
export function countsSince(before: MetricCounts, after: MetricCounts): MetricCounts {
  const diff = (a: Map<string, number>, b: Map<string, number>) => {
    const out = new Map<string, number>();
    for (const [k, v] of b) if (v - (a.get(k) ?? 0) > 0) out.set(k, v - (a.get(k) ?? 0));
    return out;
  };
  return { refusals: diff(before.refusals, after.refusals), unknownKids: diff(before.unknownKids, after.unknownKids) };
}

/** "ERR_JWKS_COOLDOWN 812, ERR_JWKS_NO_MATCHING_KEY 3", largest first; '' when empty. */
export function describeCounts(counts: Map<string, number>): string {
  return [...counts]
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k || '(none)'} ${v}`)
    .join(', ');
}
