import { EncryptedClientTokenStore } from '../../../lib/client-credentials/encrypted-token.store';
import { MemoryClientTokenStore, type ClientTokenEntry } from '../../../lib/client-credentials/client-token.store';

const KEY = Buffer.alloc(32, 9).toString('base64');
const HOUR = 3_600_000;

describe('attack 13: EncryptedClientTokenStore binds what it vouches for', () => {
  it.each([
    ['its expiry stretched (an expired token made to look valid for days)', (t: NonNullable<ClientTokenEntry['token']>) => ({ ...t, obtainedAt: Date.now(), expiresAt: Date.now() + 6 * 24 * HOUR })],
    ['its scope rewritten', (t: NonNullable<ClientTokenEntry['token']>) => ({ ...t, scope: 'admin:all' })],
    ['its token type rewritten', (t: NonNullable<ClientTokenEntry['token']>) => ({ ...t, tokenType: 'DPoP' })],
  ])('an old ciphertext replayed at the same key with %s is no token', async (_name, tamper) => {
    const inner = new MemoryClientTokenStore();
    const store = new EncryptedClientTokenStore(inner, KEY, { warn: () => undefined });
    const old = Date.now() - 2 * HOUR;
    await store.write('k', { token: { accessToken: 'eyJ.expired-token.sig', tokenType: 'Bearer', obtainedAt: old, expiresAt: old + HOUR, scope: 'read' }, gate: null }, 60_000);
    const raw = (await inner.read('k')) as ClientTokenEntry;
    // Someone with write access to Redis (not the key) puts it back with other times or claims.
    await inner.write('k', { ...raw, token: tamper(raw.token!) }, 60_000);
    expect((await store.read('k'))?.token).toBeNull();
  });
});
