import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initialKeySetState } from '../../lib/cache/key-set.state';
import { SnapshotFileKeySetStore } from '../../lib/store/snapshot-file-key-set.store';
import { MemoryKeySetStore } from '../../lib/store/memory-key-set.store';

const URI = 'https://issuer.test/jwks.json';

const ISSUER = 'https://idp.example.com/';
const ID = { issuer: ISSUER, jwksUri: URI };

describe('SnapshotFileKeySetStore', () => {
  let dir: string;
  let lines: string[];
  let store: SnapshotFileKeySetStore;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'jwks-file-store-'));
    lines = [];
    const log = { warn: (m: string) => lines.push(m), error: (m: string) => lines.push(m) };
    store = new SnapshotFileKeySetStore({ path: join(dir, 'jwks.json'), firstIssuer: ISSUER, maxBytes: 64 * 1024, log });
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('keeps only the set itself: failures, backoff and revocations start afresh on load', async () => {
    const state = { ...initialKeySetState(), jwks: '{"keys":[]}', fetchedAt: 1_000, etag: '"e"', freshUntil: 2_000, failures: 3, notBefore: 9_000, revokedKids: ['k1'] };
    await store.save(ID, state);
    expect(await store.load(ID)).toEqual({ ...initialKeySetState(), jwks: '{"keys":[]}', fetchedAt: 1_000, etag: '"e"', freshUntil: 2_000 });
    expect(lines).toEqual([]);
  });

  it('logs why a file is refused and loads nothing', async () => {
    expect(await store.load(ID)).toBeNull();
    expect(lines).toEqual(['JWKS snapshot: not used (missing)']);
  });

  it('refuses a file others may write, with the reason', async () => {
    await writeFile(join(dir, 'jwks.json'), JSON.stringify({ version: 1, jwksUri: URI, jwks: '{"keys":[]}', fetchedAt: 1, etag: null, freshUntil: 2 }));
    await chmod(join(dir, 'jwks.json'), 0o666);
    expect(await store.load(ID)).toBeNull();
    expect(lines).toEqual(['JWKS snapshot: not used (writable-by-others)']);
  });

  it('logs a failed write instead of failing', async () => {
    const broken = new SnapshotFileKeySetStore({ path: join(dir, 'no-such-dir', 'jwks.json'), firstIssuer: ISSUER, maxBytes: 1024, log: { warn: (m) => lines.push(m), error: (m) => lines.push(m) } });
    await expect(broken.save(ID, { ...initialKeySetState(), jwks: '{"keys":[]}', fetchedAt: 1, freshUntil: 2 })).resolves.toBeUndefined();
    expect(lines).toEqual(['JWKS snapshot: could not be written (ENOENT)']);
  });
});

describe('SnapshotFileKeySetStore with several issuers', () => {
  it('gives each issuer its own file, the first issuer the configured path, and never serves one issuer the other\'s set', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'jwks-file-store-'));
    try {
      const log = { warn: () => undefined, error: () => undefined };
      const store = new SnapshotFileKeySetStore({ path: join(dir, 'jwks.json'), firstIssuer: ISSUER, maxBytes: 64 * 1024, log });
      const other = { issuer: 'https://other.example.com/', jwksUri: 'https://other.example.com/jwks' };
      expect(store.fileOf(ID)).toBe(join(dir, 'jwks.json'));
      expect(store.fileOf(other)).toMatch(/jwks\.json\.[0-9a-f]{16}$/);
      await store.save(ID, { ...initialKeySetState(), jwks: '{"keys":["a"]}', fetchedAt: 1, freshUntil: 2 });
      await store.save(other, { ...initialKeySetState(), jwks: '{"keys":["b"]}', fetchedAt: 1, freshUntil: 2 });
      expect((await store.load(ID))?.jwks).toBe('{"keys":["a"]}');
      expect((await store.load(other))?.jwks).toBe('{"keys":["b"]}');
      // Same issuer, another location: the file is bound to the location it was written for.
      expect(await store.load({ issuer: other.issuer, jwksUri: 'https://other.example.com/moved' })).toBeNull();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('MemoryKeySetStore', () => {
  it('loads what was last saved, nothing before', async () => {
    const store = new MemoryKeySetStore();
    expect(await store.load(ID)).toBeNull();
    const state = { ...initialKeySetState(), jwks: '{"keys":[]}', fetchedAt: 1 };
    await store.save(ID, state);
    expect(await store.load(ID)).toBe(state);
    // Keyed by issuer and location: another issuer sees nothing, and a deleted key set is gone.
    expect(await store.load({ issuer: 'https://other.example.com/', jwksUri: URI })).toBeNull();
    store.delete(ID);
    expect(await store.load(ID)).toBeNull();
  });
});
