/**
 * The HTTP upgrade request of each `ws` connection, by its `WebSocket`. `@nestjs/platform-ws`
 * hands the request only to the server's `connection` event and to the gateway's
 * `handleConnection(client, request)`; the `WebSocket` a message handler (and so the guard) gets
 * keeps no reference to it. `JwksWsHandshake` records it here, so every guarded message can read
 * the headers and URL the connection was opened with. Weak: an entry goes with its connection.
 */
const requests = new WeakMap<object, object>();

/**
 * Records `request` as the upgrade request of `client`; later calls for the same client are
 * ignored (the request of a connection never changes, and a handler must not be able to swap it).
 */
export function rememberUpgradeRequest(client: unknown, request: unknown): void {
  if (typeof client !== 'object' || client === null || typeof request !== 'object' || request === null) return;
  if (!requests.has(client)) requests.set(client, request);
}

/** The upgrade request recorded for a `ws` client, or undefined. */
export function upgradeRequestOf(client: unknown): object | undefined {
  return typeof client === 'object' && client !== null ? requests.get(client) : undefined;
}
