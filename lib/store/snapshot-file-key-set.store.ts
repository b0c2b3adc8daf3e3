import { initialKeySetState, type KeySetState } from '../cache/key-set.state.js';
import type { KeySetLog } from '../cache/key-set.source.js';
import type { KeySetStore } from './key-set.store.js';
import { readSnapshotFile, writeSnapshot } from './key-set-snapshot.store.js';

/** Where a snapshot file store keeps its file and which issuer it is bound to. */
export interface SnapshotFileKeySetStoreOptions {
  path: string;
  /** The snapshot is refused when it was written for another JWKS URI. */
  jwksUri: string;
  /** Largest file read back. */
  maxBytes: number;
  log: KeySetLog;
}

/**
 * `cache.snapshotPath`: the last good set on disk, so a restart during an IdP outage still serves.
 * Only the set itself is kept (raw JSON, fetch time, ETag, freshness); failures, backoff and
 * revocations are per-process and start afresh. Read only if this process's user wrote it (see
 * `readSnapshotFile`); a refused file is logged with its reason, never its content or path.
 */
export class SnapshotFileKeySetStore implements KeySetStore {
  constructor(private readonly options: SnapshotFileKeySetStoreOptions) {}

  async load(): Promise<KeySetState | null> {
    const { path, jwksUri, maxBytes, log } = this.options;
    const read = await readSnapshotFile(path, jwksUri, maxBytes);
    if (!read.ok) {
      log.warn(`JWKS snapshot: not used (${read.reason})`);
      return null;
    }
    const { jwks, fetchedAt, etag, freshUntil } = read.snapshot;
    return { ...initialKeySetState(), jwks, fetchedAt, etag, freshUntil };
  }

  /** A failed write is logged, never fatal: the set in memory keeps serving. */
  async save(state: KeySetState): Promise<void> {
    const { jwks, fetchedAt, etag, freshUntil } = state;
    if (jwks === null || fetchedAt === null) return;
    try {
      await writeSnapshot(this.options.path, { version: 1, jwksUri: this.options.jwksUri, jwks, fetchedAt, etag, freshUntil });
    } catch (err) {
      this.options.log.warn(`JWKS snapshot: could not be written (${(err as { code?: string })?.code ?? 'error'})`);
    }
  }
}
