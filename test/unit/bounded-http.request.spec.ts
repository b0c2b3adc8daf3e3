import { createServer, type AddressInfo } from 'node:net';
import { boundedRequest } from '../../lib/fetch/bounded-http.request';
import { JwksFetchError } from '../../lib/errors/jwks.errors';

// What a network failure says in `lastError.message` and the log: the code, and what it means.

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const request = (uri: string) => boundedRequest({ label: 'JWKS', uri, headers: {}, timeoutMs: 2_000, maxResponseBytes: 1_024 }, async (r) => r.status);

describe('boundedRequest network errors', () => {
  it('names a refused connection in words, with its code', async () => {
    const err = await request(`http://127.0.0.1:${await closedPort()}/jwks`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JwksFetchError);
    expect((err as JwksFetchError).message).toBe('JWKS request failed: connection refused (ECONNREFUSED)');
  });

  it('names a connection the server closed without answering', async () => {
    const server = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const err = await request(`http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`).catch((e: unknown) => e);
      expect((err as JwksFetchError).message).toMatch(/^JWKS request failed: connection (closed|reset) by the server \((UND_ERR_SOCKET|ECONNRESET)\)$/);
    } finally {
      server.close();
    }
  });
});
