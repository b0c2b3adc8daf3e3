import { open, readFile, rename, unlink } from 'node:fs/promises';

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
 * Writes the snapshot atomically: a temp file beside the target, flushed, then renamed over it, so
 * a crash mid-write never leaves a torn file. Readable by the owner only.
 */
export async function writeSnapshot(path: string, snapshot: KeySetSnapshot): Promise<void> {
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  const handle = await open(tmp, 'w', 0o600);
  try {
    await handle.writeFile(JSON.stringify(snapshot));
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/**
 * Reads a snapshot written by `writeSnapshot` for this JWKS URI; null when there is none, it is
 * unreadable, malformed, larger than `maxBytes` or belongs to another URI (keys stay bound to the
 * issuer they came from).
 */
export async function readSnapshot(path: string, jwksUri: string, maxBytes: number): Promise<KeySetSnapshot | null> {
  let text: string;
  try {
    const buf = await readFile(path);
    if (buf.length > maxBytes) return null;
    text = buf.toString('utf8');
  } catch {
    return null;
  }
  let doc: Partial<KeySetSnapshot>;
  try {
    doc = JSON.parse(text) as Partial<KeySetSnapshot>;
  } catch {
    return null;
  }
  if (
    doc?.version !== 1 ||
    doc.jwksUri !== jwksUri ||
    typeof doc.jwks !== 'string' ||
    typeof doc.fetchedAt !== 'number' ||
    typeof doc.freshUntil !== 'number' ||
    (doc.etag !== null && typeof doc.etag !== 'string')
  ) {
    return null;
  }
  return doc as KeySetSnapshot;
}
