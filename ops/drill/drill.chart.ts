import type { Bucket } from './drill.record';

/**
 * The drill's chart as a standalone SVG (no library, opens in any browser): requests per second by
 * outcome on top, upstream JWKS requests below, the phases as labelled bands across both. Pure.
 */

export interface ChartInput {
  readonly title: string;
  readonly buckets: readonly Bucket[];
  readonly bucketMs: number;
  readonly phases: ReadonlyArray<{ title: string; at: number }>;
  /** Moments worth a marker (rotation, first accepted new kid, webhook), ms since the start. */
  readonly markers: ReadonlyArray<{ at: number; label: string }>;
}

const WIDTH = 1100;
const LEFT = 60;
const RIGHT = 20;
const TOP = 70;
const TRAFFIC_HEIGHT = 260;
const GAP = 40;
const UPSTREAM_HEIGHT = 110;
const BOTTOM = 60;
const HEIGHT = TOP + TRAFFIC_HEIGHT + GAP + UPSTREAM_HEIGHT + BOTTOM;
const SERIES = [
  { key: 'accepted', label: 'accepted', color: '#2e7d32' },
  { key: 'expectedRefused', label: 'refused, rightly (made-up kid, revoked key)', color: '#9e9e9e' },
  { key: 'validRefused', label: 'valid tokens refused', color: '#c62828' },
] as const;

const escapeXml = (text: string) => text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
const round = (n: number) => Math.round(n * 10) / 10;

/** A y-axis maximum that reads well: 1, 2 or 5 times a power of ten, at least `value`. */
export function niceCeiling(value: number): number {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

export function renderChart(input: ChartInput): string {
  const { buckets, bucketMs } = input;
  const totalMs = Math.max(bucketMs, buckets.length * bucketMs);
  const plotWidth = WIDTH - LEFT - RIGHT;
  const x = (ms: number) => round(LEFT + (ms / totalMs) * plotWidth);
  const perSecond = 1000 / bucketMs;
  const trafficMax = niceCeiling(Math.max(1, ...buckets.map((b) => Math.max(b.accepted, b.expectedRefused, b.validRefused) * perSecond)));
  const upstreamMax = niceCeiling(Math.max(1, ...buckets.map((b) => b.upstream)));
  const trafficBottom = TOP + TRAFFIC_HEIGHT;
  const upstreamTop = trafficBottom + GAP;
  const upstreamBottom = upstreamTop + UPSTREAM_HEIGHT;
  const yTraffic = (perSec: number) => round(trafficBottom - (perSec / trafficMax) * TRAFFIC_HEIGHT);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`);
  out.push(`<text x="${LEFT}" y="22" font-size="16" font-weight="bold">${escapeXml(input.title)}</text>`);
  // Phase bands, alternately shaded, each labelled at its top.
  input.phases.forEach((phase, i) => {
    const start = x(phase.at);
    const end = i + 1 < input.phases.length ? x(input.phases[i + 1].at) : x(totalMs);
    if (i % 2 === 1) out.push(`<rect x="${start}" y="${TOP}" width="${round(Math.max(0, end - start))}" height="${upstreamBottom - TOP}" fill="#f3f6fa"/>`);
    out.push(`<line x1="${start}" y1="${TOP - 4}" x2="${start}" y2="${upstreamBottom}" stroke="#b0bec5" stroke-dasharray="3,3"/>`);
    // Near the right edge, the label ends at its band's end instead of running off the chart.
    const anchorEnd = start + phase.title.length * 7 > WIDTH - RIGHT;
    out.push(`<text x="${anchorEnd ? end - 3 : start + 3}" y="${TOP - 8 - (i % 2) * 13}" fill="#37474f"${anchorEnd ? ' text-anchor="end"' : ''}>${escapeXml(phase.title)}</text>`);
  });
  // Axes and gridlines.
  for (const fraction of [0, 0.5, 1]) {
    const y = yTraffic(trafficMax * fraction);
    out.push(`<line x1="${LEFT}" y1="${y}" x2="${WIDTH - RIGHT}" y2="${y}" stroke="#e0e0e0"/>`);
    out.push(`<text x="${LEFT - 6}" y="${y + 4}" text-anchor="end">${round(trafficMax * fraction)}</text>`);
  }
  out.push(`<text x="14" y="${TOP + TRAFFIC_HEIGHT / 2}" transform="rotate(-90 14 ${TOP + TRAFFIC_HEIGHT / 2})" text-anchor="middle">requests / s</text>`);
  for (const series of SERIES) {
    const points = buckets.map((b, i) => `${x((i + 0.5) * bucketMs)},${yTraffic(b[series.key] * perSecond)}`);
    if (points.length > 0) out.push(`<polyline fill="none" stroke="${series.color}" stroke-width="1.8" points="${points.join(' ')}"/>`);
  }
  // Upstream requests: one bar per bucket that had any.
  const barWidth = Math.max(1.5, round(plotWidth / Math.max(1, buckets.length)) - 0.5);
  buckets.forEach((b, i) => {
    if (b.upstream === 0) return;
    const h = round((b.upstream / upstreamMax) * UPSTREAM_HEIGHT);
    out.push(`<rect x="${x(i * bucketMs)}" y="${round(upstreamBottom - h)}" width="${barWidth}" height="${h}" fill="#1565c0"><title>${b.upstream} JWKS request(s)</title></rect>`);
  });
  out.push(`<line x1="${LEFT}" y1="${upstreamBottom}" x2="${WIDTH - RIGHT}" y2="${upstreamBottom}" stroke="#9e9e9e"/>`);
  out.push(`<text x="${LEFT - 6}" y="${upstreamTop + 4}" text-anchor="end">${upstreamMax}</text>`);
  out.push(`<text x="${LEFT - 6}" y="${upstreamBottom + 4}" text-anchor="end">0</text>`);
  out.push(`<text x="14" y="${upstreamTop + UPSTREAM_HEIGHT / 2}" transform="rotate(-90 14 ${upstreamTop + UPSTREAM_HEIGHT / 2})" text-anchor="middle">JWKS requests</text>`);
  out.push(`<text x="${LEFT}" y="${upstreamTop - 6}" fill="#1565c0">upstream JWKS requests per ${bucketMs} ms (what the IdP sees)</text>`);
  // Time axis.
  const stepS = niceCeiling(totalMs / 1000 / 12);
  for (let s = 0; s * 1000 <= totalMs; s += stepS) {
    out.push(`<text x="${x(s * 1000)}" y="${upstreamBottom + 16}" text-anchor="middle">${s}s</text>`);
  }
  // Markers; one closer than 12 px to the previous one is dropped, so their labels never overprint.
  let lastMarker = -Infinity;
  for (const marker of input.markers) {
    const mx = x(marker.at);
    if (mx - lastMarker < 12) continue;
    lastMarker = mx;
    out.push(`<line x1="${mx}" y1="${TOP}" x2="${mx}" y2="${trafficBottom}" stroke="#6a1b9a" stroke-width="1"/>`);
    out.push(`<text x="${mx + 3}" y="${TOP + 12}" fill="#6a1b9a" font-size="10" transform="rotate(90 ${mx + 3} ${TOP + 12})">${escapeXml(marker.label)}</text>`);
  }
  // Legend.
  SERIES.forEach((series, i) => {
    const lx = LEFT + i * 300;
    const ly = HEIGHT - 18;
    out.push(`<rect x="${lx}" y="${ly - 9}" width="14" height="4" fill="${series.color}"/>`);
    out.push(`<text x="${lx + 20}" y="${ly - 4}">${escapeXml(series.label)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}
