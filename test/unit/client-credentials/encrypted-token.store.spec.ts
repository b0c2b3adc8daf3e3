import { EncryptedClientTokenStore, encryptionKeyBytes } from '../../../lib/client-credentials/encrypted-token.store';
import { MemoryClientTokenStore, type ClientTokenEntry } from '../../../lib/client-credentials/client-token.store';

const KEY = Buffer.alloc(32, 7).toString('base64');
const entry: ClientTokenEntry = {
  token: { accessToken: 'eyJ.the-access-token.sig', tokenType: 'Bearer', obtainedAt: 1, expiresAt: Date.now() + 60_000 },
  gate: { notBefore: 5, attempts: 1, source: 'retry-after' },
};

describe('EncryptedClientTokenStore', () => {
  it('keeps only ciphertext in the inner store and gives the token back', async () => {
    const inner = new MemoryClientTokenStore();
    const store = new EncryptedClientTokenStore(inner, KEY);
    await store.write('k', entry, 60_000);
    const raw = await inner.read('k');
    expect(JSON.stringify(raw)).not.toContain('the-access-token');
    expect(raw?.token?.accessToken).toMatch(/^enc:v2:/);
    expect(raw?.gate).toEqual(entry.gate);
    expect(await store.read('k')).toEqual(entry);
  });

  it.each([
    ['a flipped ciphertext byte', (v: string) => v.replace(/\.(.)/, (_m, c: string) => `.${c === 'A' ? 'B' : 'A'}`)],
    ['a value moved from another key', (v: string) => v],
    ['a plaintext token planted in the store', () => 'planted-token'],
  ])('treats %s as no token, and logs without the content', async (name, tamper) => {
    const inner = new MemoryClientTokenStore();
    const lines: string[] = [];
    const store = new EncryptedClientTokenStore(inner, KEY, { warn: (m) => lines.push(m) });
    await store.write('k', entry, 60_000);
    const raw = (await inner.read('k')) as ClientTokenEntry;
    const sealed = raw.token!.accessToken;
    const target = name.includes('another key') ? 'other' : 'k';
    await inner.write(target, { ...raw, token: { ...raw.token!, accessToken: tamper(sealed) } }, 60_000);
    const read = await store.read(target);
    expect(read?.token).toBeNull();
    expect(read?.gate).toEqual(entry.gate);
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain(sealed.slice(7, 30));
    expect(lines[0]).not.toContain('planted-token');
  });

  it('refuses a key with another key (written with one, read with another: absent)', async () => {
    const inner = new MemoryClientTokenStore();
    await new EncryptedClientTokenStore(inner, KEY).write('k', entry, 60_000);
    expect((await new EncryptedClientTokenStore(inner, 'f'.repeat(64)).read('k'))?.token).toBeNull();
  });

  it('accepts 32 bytes as bytes, hex or base64 only', () => {
    expect(encryptionKeyBytes(Buffer.alloc(32)).byteLength).toBe(32);
    expect(encryptionKeyBytes('ab'.repeat(32)).byteLength).toBe(32);
    expect(() => encryptionKeyBytes('short')).toThrow(/32 bytes/);
    expect(() => encryptionKeyBytes(Buffer.alloc(16))).toThrow(/32 bytes/);
  });

  it('passes lease and watch through, decrypting what is pushed', async () => {
    const inner = new MemoryClientTokenStore();
    const store = new EncryptedClientTokenStore(inner, KEY);
    const seen: ClientTokenEntry[] = [];
    store.watch!('k', (e) => seen.push(e));
    await store.write('k', entry, 60_000);
    expect(seen).toEqual([entry]);
    const lease = await store.lease!('k', 1_000);
    expect(lease).not.toBeNull();
    expect(await store.lease!('k', 1_000)).toBeNull();
  });
});

describe('MemoryClientTokenStore', () => {
  it('drops entries at their ttl and keeps at most maxEntries, the oldest written going first', async () => {
    let now = 1_000;
    const store = new MemoryClientTokenStore(() => now, 3);
    for (const k of ['a', 'b', 'c']) await store.write(k, entry, 10_000);
    await store.write('a', entry, 10_000);
    await store.write('d', entry, 10_000);
    expect(store.size).toBe(3);
    expect(await store.read('b')).toBeNull();
    expect(await store.read('a')).toEqual(entry);
    now += 10_000;
    expect(await store.read('a')).toBeNull();
  });
});
