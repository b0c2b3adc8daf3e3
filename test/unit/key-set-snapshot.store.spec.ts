import { execFileSync } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jest } from '@jest/globals';
import { readSnapshotFile, writeSnapshot, type KeySetSnapshot } from '../../lib/store/key-set-snapshot.store';

const URI = 'https://issuer.test/.well-known/jwks.json';
const snapshot: KeySetSnapshot = {
  version: 1,
  jwksUri: URI,
  jwks: '{"keys":[]}',
  fetchedAt: 1_700_000_000_000,
  etag: '"abc"',
  freshUntil: 1_700_000_600_000,
};
const MAX = 64 * 1024;
const isRoot = process.getuid?.() === 0;

describe('snapshot store: only our own file is trusted', () => {
  let dir: string;
  let path: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'jwks-store-'));
    path = join(dir, 'jwks.json');
  });
  afterEach(async () => {
    jest.restoreAllMocks();
    await rm(dir, { recursive: true, force: true });
  });

  it('reads back what it wrote: owner-only file, no temp file left behind', async () => {
    await writeSnapshot(path, snapshot);
    expect(await readSnapshotFile(path, URI, MAX)).toEqual({ ok: true, snapshot });
    expect(await readSnapshotFile(path, URI, MAX)).toEqual({ ok: true, snapshot });
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readdir(dir)).toEqual(['jwks.json']);
  });

  // chown to another user needs root, as these tests run in CI.
  (isRoot ? it : it.skip)('refuses a file owned by another user (a snapshot planted by another local account)', async () => {
    await writeSnapshot(path, snapshot);
    await chown(path, 65534, 65534);
    expect(await readSnapshotFile(path, URI, MAX)).toEqual({ ok: false, reason: 'foreign-owner' });
    expect((await readSnapshotFile(path, URI, MAX)).ok).toBe(false);
  });

  it('refuses a file writable by group or others, accepts one merely readable by them', async () => {
    await writeSnapshot(path, snapshot);
    for (const mode of [0o620, 0o602, 0o666, 0o777]) {
      await chmod(path, mode);
      expect([mode.toString(8), await readSnapshotFile(path, URI, MAX)]).toEqual([mode.toString(8), { ok: false, reason: 'writable-by-others' }]);
      expect((await readSnapshotFile(path, URI, MAX)).ok).toBe(false);
    }
    await chmod(path, 0o644);
    expect(await readSnapshotFile(path, URI, MAX)).toMatchObject({ ok: true });
  });

  it('never follows a symlink, even to a good snapshot of ours', async () => {
    const real = join(dir, 'real.json');
    await writeSnapshot(real, snapshot);
    await symlink(real, path);
    expect(await readSnapshotFile(path, URI, MAX)).toEqual({ ok: false, reason: 'symlink' });
    expect((await readSnapshotFile(path, URI, MAX)).ok).toBe(false);
  });

  it('refuses a directory and a FIFO without blocking on it', async () => {
    await mkdir(path);
    expect(await readSnapshotFile(path, URI, MAX)).toEqual({ ok: false, reason: 'not-regular' });
    const fifo = join(dir, 'fifo.json');
    execFileSync('mkfifo', ['-m', '600', fifo]);
    expect(await readSnapshotFile(fifo, URI, MAX)).toEqual({ ok: false, reason: 'not-regular' });
  });

  it('names why it refused: missing, too large, malformed, another URI', async () => {
    expect(await readSnapshotFile(path, URI, MAX)).toEqual({ ok: false, reason: 'missing' });
    await writeSnapshot(path, { ...snapshot, jwks: 'x'.repeat(MAX) });
    expect(await readSnapshotFile(path, URI, MAX)).toEqual({ ok: false, reason: 'too-large' });
    await writeSnapshot(path, snapshot);
    expect(await readSnapshotFile(path, 'https://other.test/jwks.json', MAX)).toEqual({ ok: false, reason: 'other-uri' });
    for (const text of ['{"version":1,', '[]', 'null', JSON.stringify({ ...snapshot, version: 2 }), JSON.stringify({ ...snapshot, jwks: 42 }), JSON.stringify({ ...snapshot, etag: 7 })]) {
      await writeFile(path, text);
      expect([text, await readSnapshotFile(path, URI, MAX)]).toEqual([text, { ok: false, reason: 'malformed' }]);
    }
  });

  it('refuses non-finite times (1e999 parses as Infinity: a set fresh forever)', async () => {
    await writeFile(path, JSON.stringify(snapshot).replace(/"freshUntil":\d+/, '"freshUntil":1e999'));
    expect(await readSnapshotFile(path, URI, MAX)).toEqual({ ok: false, reason: 'malformed' });
  });

  it('writes through an unpredictable, exclusively created temp name: a link planted at the old guessable name is not followed', async () => {
    const victim = join(dir, 'victim');
    await writeFile(path, 'old');
    await writeFile(victim, 'untouched');
    // The name the old code would have used: `${path}.${pid}.${Date.now()}.tmp`.
    jest.spyOn(Date, 'now').mockReturnValue(1_234_567);
    await symlink(victim, `${path}.${process.pid}.1234567.tmp`);
    await writeSnapshot(path, snapshot);
    expect(await readFile(victim, 'utf8')).toBe('untouched');
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual(snapshot);
  });

  it('replaces a symlink at the target path instead of writing through it', async () => {
    const victim = join(dir, 'victim');
    await writeFile(victim, 'untouched');
    await symlink(victim, path);
    await writeSnapshot(path, snapshot);
    expect(await readFile(victim, 'utf8')).toBe('untouched');
    expect(await readSnapshotFile(path, URI, MAX)).toEqual({ ok: true, snapshot });
  });

  it('survives concurrent writers: each has its own temp file, the last rename wins whole', async () => {
    // The old name (pid + millisecond) was shared by writes in the same millisecond, so one rename failed.
    await Promise.all(Array.from({ length: 20 }, (_, i) => writeSnapshot(path, { ...snapshot, fetchedAt: i })));
    expect(await readdir(dir)).toEqual(['jwks.json']);
    const read = await readSnapshotFile(path, URI, MAX);
    expect(read).toMatchObject({ ok: true, snapshot: { jwksUri: URI } });
  });
});
