import { randomBytes } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { lstat, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { isStoredEtag, isStoredTime } from './key-set-state.validator.js';

/** What the snapshot file holds: the plain key-set data, bound to the JWKS URI it came from. */
export interface KeySetSnapshot {
  version: 1;
  jwksUri: string;
  jwks: string;
  fetchedAt: number;
  etag: string | null;
  freshUntil: number;
}

/**
 * Why a snapshot file was not used. Safe to log: it names a property of the file, never its
 * content or its path.
 */
export type SnapshotRefusal =
  /** No file (or a missing directory): a first start. */
  | 'missing'
  /** The file could not be opened (permissions, I/O). */
  | 'unreadable'
  /** The path is a symbolic link; links are never followed. */
  | 'symlink'
  /** Not a regular file: a directory, FIFO, socket or device. */
  | 'not-regular'
  /** Owned by another user than the one this process runs as. */
  | 'foreign-owner'
  /** Group or others may write it, so someone else could have. */
  | 'writable-by-others'
  /** Larger than the cap the caller gave. */
  | 'too-large'
  /** Not a snapshot this store wrote: bad JSON, missing or mistyped members. */
  | 'malformed'
  /** A snapshot for another JWKS URI: keys stay bound to the issuer they came from. */
  | 'other-uri';

export type SnapshotRead = { ok: true; snapshot: KeySetSnapshot } | { ok: false; reason: SnapshotRefusal };

const POSIX = process.platform !== 'win32';
/** Where the platform has it (not Windows), the kernel refuses a symlink in the last path component. */
const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0;
/** Opening a FIFO for reading would otherwise block until a writer appears. */
const O_NONBLOCK = constants.O_NONBLOCK ?? 0;

/**
 * Reads a snapshot only if this process's user wrote it: a regular file (a symlink is refused,
 * never followed), owned by our effective uid and writable by no one else, no larger than
 * `maxBytes`, well-formed and for this JWKS URI. The checks run on the opened handle (`fstat`), so
 * the file checked is the file read. Anything else is refused with the reason, so that a key set
 * planted by another local account is never served, nor later renewed by a 304 on its ETag.
 * (On Windows, owner and mode are not checked; the symlink check is a best-effort `lstat`.)
 */
export async function readSnapshotFile(path: string, jwksUri: string, maxBytes: number): Promise<SnapshotRead> {
  let handle: FileHandle;
  try {
    if (O_NOFOLLOW === 0 && (await lstat(path)).isSymbolicLink()) return refused('symlink');
    handle = await open(path, constants.O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch (err) {
    return refused(openFailure(err));
  }
  let text: string;
  try {
    const stats = await handle.stat();
    const distrust = trustProblem(stats);
    if (distrust !== null) return refused(distrust);
    if (stats.size > maxBytes) return refused('too-large');
    const read = await readAtMost(handle, Math.min(stats.size, maxBytes) + 1);
    if (read.length > maxBytes) return refused('too-large'); // it grew after fstat
    text = read.toString('utf8');
  } catch {
    return refused('unreadable');
  } finally {
    await handle.close().catch(() => undefined);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return refused('malformed');
  }
  const snapshot = asSnapshot(doc);
  if (snapshot === null) return refused('malformed');
  if (snapshot.jwksUri !== jwksUri) return refused('other-uri');
  return { ok: true, snapshot };
}

/**
 * Writes the snapshot atomically and durably: a temp file beside the target under an
 * unpredictable name, created exclusively (so nothing planted at that name, a symlink included,
 * is ever opened), owner-only, flushed, renamed over the target (which replaces a symlink there
 * rather than writing through it), then the directory flushed so the rename survives a crash.
 */
export async function writeSnapshot(path: string, snapshot: KeySetSnapshot): Promise<void> {
  const tmp = `${path}.${randomBytes(16).toString('hex')}.tmp`;
  const handle = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | O_NOFOLLOW, 0o600);
  try {
    try {
      await handle.writeFile(JSON.stringify(snapshot));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await syncDirectory(dirname(path));
}

function refused(reason: SnapshotRefusal): SnapshotRead {
  return { ok: false, reason };
}

function openFailure(err: unknown): SnapshotRefusal {
  switch ((err as { code?: unknown })?.code) {
    case 'ENOENT':
    case 'ENOTDIR':
      return 'missing';
    case 'ELOOP': // Linux and macOS: O_NOFOLLOW met a symlink
    case 'EMLINK': // FreeBSD's answer to the same
      return 'symlink';
    case 'ENXIO': // a socket
      return 'not-regular';
    default:
      return 'unreadable';
  }
}

function trustProblem(stats: Stats): SnapshotRefusal | null {
  if (!stats.isFile()) return 'not-regular';
  if (!POSIX) return null;
  const uid = process.geteuid?.();
  if (uid !== undefined && stats.uid !== uid) return 'foreign-owner';
  if ((stats.mode & 0o022) !== 0) return 'writable-by-others';
  return null;
}

/** Up to `limit` bytes from the start of the file. */
async function readAtMost(handle: FileHandle, limit: number): Promise<Buffer> {
  const buf = Buffer.alloc(limit);
  let length = 0;
  while (length < limit) {
    const { bytesRead } = await handle.read(buf, length, limit - length, length);
    if (bytesRead === 0) break;
    length += bytesRead;
  }
  return buf.subarray(0, length);
}

/** Only members of the expected types; a copy, so nothing else in the file travels on. */
function asSnapshot(doc: unknown): KeySetSnapshot | null {
  if (typeof doc !== 'object' || doc === null) return null;
  const d = doc as Record<string, unknown>;
  if (
    d.version !== 1 ||
    typeof d.jwksUri !== 'string' ||
    typeof d.jwks !== 'string' ||
    // The checks a shared store applies to the same members (key-set-state.validator.ts).
    !isStoredTime(d.fetchedAt) ||
    !isStoredTime(d.freshUntil) ||
    !isStoredEtag(d.etag)
  ) {
    return null;
  }
  return { version: 1, jwksUri: d.jwksUri, jwks: d.jwks, fetchedAt: d.fetchedAt as number, etag: d.etag as string | null, freshUntil: d.freshUntil as number };
}

/** Best effort: some file systems refuse fsync on a directory (EINVAL), and Windows cannot open one. */
async function syncDirectory(dir: string): Promise<void> {
  if (!POSIX) return;
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, constants.O_RDONLY | (constants.O_DIRECTORY ?? 0));
    await handle.sync();
  } catch {
    // The file is written and renamed; only the rename's durability across a power loss is at stake.
  } finally {
    await handle?.close().catch(() => undefined);
  }
}
