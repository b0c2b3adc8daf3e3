import type { Transport } from './transport.js';
import { websocketsPeer, wsRefusal } from './ws.refusal.js';
import { wsTokenReader } from './ws.token.js';

/**
 * `@SubscribeMessage` handlers of WebSocket gateways (`@nestjs/websockets`, context type 'ws'), on
 * socket.io (`@nestjs/platform-socket.io`) and `ws` (`@nestjs/platform-ws`) alike. The
 * request-like object is the client: the guard writes the user on the socket, where
 * `@CurrentUser()` reads it for every later message of the connection too.
 *
 * The token is read per message from what the connection was opened with (socket.io's handshake,
 * `ws`'s upgrade request as recorded by `JwksWsHandshake`), and verified per message, so a token
 * that expires mid-connection is refused from its `exp` on. With `verifiedTokenCache` on, a
 * repeat costs a hash and a map read instead of a signature check.
 */
export const wsTransport: Transport = {
  request(context) {
    return context.getArgByIndex(0);
  },

  /** No HTTP response to put a challenge or `Retry-After` on: the refusal body carries `retryAfter`. */
  response() {
    return undefined;
  },

  refusal: wsRefusal,

  tokenReader({ options, onExtractorError }) {
    const read = wsTokenReader(options?.websocket?.token ?? null, onExtractorError);
    return (_context, client) => read(client);
  },

  peers: [websocketsPeer],
};
