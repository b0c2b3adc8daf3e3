import type { PhaseId } from './drill.plan';

/**
 * What the drill saw, kept as counts: per phase, and per time bucket for the chart. Memory does not
 * grow with the request rate (a bucket is a handful of numbers). Pure: the caller passes the times.
 */

/** `valid`: signed by the key the IdP signs with now. `made-up`: an attacker's unknown kid. `leaked`: signed by the key that gets revoked. */
export type TokenKind = 'valid' | 'made-up' | 'leaked';

export interface PhaseTally {
  accepted: number;
  refused: number;
  /** Valid tokens refused: the number a rotation drill exists to keep at 0. */
  validRefused: number;
  /** Of those, answered 503 (no usable key set) rather than 401. */
  unavailable: number;
  madeUpRefused: number;
  madeUpAccepted: number;
  leakedAccepted: number;
  leakedRefused: number;
  /** Requests the drill could not complete (connection refused, timeout): an instance in trouble. */
  errors: number;
  /** JWKS requests the issuer received during the phase. */
  upstream: number;
  startedAt: number;
  endedAt: number;
}

export interface Bucket {
  accepted: number;
  validRefused: number;
  /** Made-up kids and revoked-key tokens refused: refusals that are right. */
  expectedRefused: number;
  upstream: number;
}

export interface TimelineEntry {
  /** Milliseconds since the drill started. */
  at: number;
  text: string;
}

const emptyTally = (startedAt: number): PhaseTally => ({
  accepted: 0,
  refused: 0,
  validRefused: 0,
  unavailable: 0,
  madeUpRefused: 0,
  madeUpAccepted: 0,
  leakedAccepted: 0,
  leakedRefused: 0,
  errors: 0,
  upstream: 0,
  startedAt,
  endedAt: startedAt,
});

export class DrillRecord {
  readonly phases = new Map<PhaseId, PhaseTally>();
  readonly buckets: Bucket[] = [];
  readonly timeline: TimelineEntry[] = [];
  /** Phase starts, for the chart's bands. */
  readonly phaseStarts: Array<{ id: PhaseId; title: string; at: number }> = [];
  /** Moments the chart marks (a rotation, a first accepted new key, a notice). */
  readonly markers: Array<{ at: number; label: string }> = [];
  private current: PhaseTally | null = null;

  constructor(
    /** The drill's start, on the caller's clock. */
    readonly startedAt: number,
    readonly bucketMs = 250,
  ) {}

  mark(now: number, label: string): void {
    this.markers.push({ at: now - this.startedAt, label });
  }

  /** `title` goes to the timeline, `label` to the chart. */
  phase(id: PhaseId, title: string, now: number, label = title): void {
    if (this.current) this.current.endedAt = now - this.startedAt;
    this.current = emptyTally(now - this.startedAt);
    this.phases.set(id, this.current);
    this.phaseStarts.push({ id, title: label, at: now - this.startedAt });
    this.note(now, `phase: ${title}`);
  }

  end(now: number): void {
    if (this.current) this.current.endedAt = now - this.startedAt;
  }

  note(now: number, text: string): void {
    this.timeline.push({ at: now - this.startedAt, text });
  }

  /** One answered request: 2xx accepted, anything else refused. `status` 0: no answer at all. */
  response(now: number, kind: TokenKind, status: number): void {
    const tally = this.current;
    if (tally === null) return;
    const bucket = this.bucket(now);
    if (status === 0) {
      tally.errors++;
      if (kind === 'valid') bucket.validRefused++;
      return;
    }
    const accepted = status >= 200 && status < 300;
    if (accepted) {
      tally.accepted++;
      bucket.accepted++;
    } else tally.refused++;
    if (kind === 'valid' && !accepted) {
      tally.validRefused++;
      if (status === 503) tally.unavailable++;
      bucket.validRefused++;
    } else if (kind === 'made-up') {
      if (accepted) tally.madeUpAccepted++;
      else {
        tally.madeUpRefused++;
        bucket.expectedRefused++;
      }
    } else if (kind === 'leaked') {
      if (accepted) tally.leakedAccepted++;
      else {
        tally.leakedRefused++;
        bucket.expectedRefused++;
      }
    }
  }

  /** `count` JWKS requests reached the issuer since the last call. */
  upstream(now: number, count: number): void {
    if (count <= 0) return;
    if (this.current) this.current.upstream += count;
    this.bucket(now).upstream += count;
  }

  get elapsedBuckets(): number {
    return this.buckets.length;
  }

  private bucket(now: number): Bucket {
    const index = Math.max(0, Math.floor((now - this.startedAt) / this.bucketMs));
    while (this.buckets.length <= index) this.buckets.push({ accepted: 0, validRefused: 0, expectedRefused: 0, upstream: 0 });
    return this.buckets[index];
  }
}
