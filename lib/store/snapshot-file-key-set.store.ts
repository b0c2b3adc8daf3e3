import { createHash } from 'node:crypto';
import { unlink } from 'node:fs/promises';
import { initialKeySetState, type KeySetState } from '../cache/key-set.state.js';
import type { KeySetLog } from '../cache/key-set.source.js';
import type { KeySetId, KeySetStore } from './key-set.store.js';
import { readSnapshotFile, writeSnapshot } from './key-set-snapshot.store.js';

/** Where a snapshot file store keeps its files. */
export interface SnapshotFileKeySetStoreOptions {
  /** The file of the first issuer; every other issuer's is this path plus `.` and 16 hex digits. */
  path: string;
  /** The issuer whose set goes to `path` itself (the one issuer of a one-issuer module). */
  firstIssuer: string | null;
  /** Largest file read back. */
  maxBytes: number;
  log: KeySetLog;
}

/** What a snapshot is bound to: the JWKS URI, or the issuer whose discovery names it. */
function locationOf(id: KeySetId): string {
  return id.jwksUri ?? `discovery:${id.issuer}`;
}

/**
 * `cache.snapshotPath`: the last good set of each issuer on disk, so a restart during an IdP
 * outage still serves. Only the set itself is kept (raw JSON, fetch time, ETag, freshness);
 * failures, backoff and revocations are per-process and start afresh. A file is bound to its
 * JWKS URI (a snapshot of another location is refused) and read only if this process's user
 * wrote it (see `readSnapshotFile`); a refused file is logged with its reason, never its content
 * or path.
 */
export class SnapshotFileKeySetStore implements KeySetStore {
  constructor(private readonly options: SnapshotFileKeySetStoreOptions) {}

  /** The first issuer keeps the configured path (as before several issuers existed); others get a suffix derived from issuer and location. */
  fileOf(id: KeySetId): string {
    if (id.issuer === this.options.firstIssuer) return this.options.path;
    const suffix = createHash('sha256').update(`${id.issuer}\n${locationOf(id)}`).digest('hex').slice(0, 16);
    return `${this.options.path}.${suffix}`;
  }

  async load(id: KeySetId): Promise<KeySetState | null> {
    const { maxBytes, log } = this.options;
    const read = await readSnapshotFile(this.fileOf(id), locationOf(id), maxBytes);
    if (!read.ok) {
      log.warn(`JWKS snapshot: not used (${read.reason})`);
      return null;
    }
    const { jwks, fetchedAt, etag, freshUntil } = read.snapshot;
    return { ...initialKeySetState(), jwks, fetchedAt, etag, freshUntil };
  }

  /** The issuer was removed: its file goes too, so a re-added issuer never restores the removed set. */
  async delete(id: KeySetId): Promise<void> {
    try {
      await unlink(this.fileOf(id));
    } catch (err) {
      if ((err as { code?: string })?.code !== 'ENOENT') this.options.log.warn(`JWKS snapshot: could not be removed (${(err as { code?: string })?.code ?? 'error'})`);
    }
  }

  /** A failed write is logged, never fatal: the set in memory keeps serving. */
  async save(id: KeySetId, state: KeySetState): Promise<void> {
    const { jwks, fetchedAt, etag, freshUntil } = state;
    if (jwks === null || fetchedAt === null) return;
    try {
      await writeSnapshot(this.fileOf(id), { version: 1, jwksUri: locationOf(id), jwks, fetchedAt, etag, freshUntil });
    } catch (err) {
      this.options.log.warn(`JWKS snapshot: could not be written (${(err as { code?: string })?.code ?? 'error'})`);
    }
  }
}
