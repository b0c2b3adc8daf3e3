import { ForbiddenException } from '@nestjs/common';
import { forgetUser } from '../guards/request-user.property.js';
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

  /**
   * A refused message also takes back the user an earlier accepted check (or the handshake) wrote
   * on the client, so a later `@Public()` handler of the connection sees no user rather than one
   * whose token was just refused (expired, revoked, unverifiable). Not on a 403: the token is
   * valid, it only lacks a grant for this handler. Costs a property write, on refusals only.
   */
  refusal(thrown, reason, context) {
    const client: unknown = context?.getArgByIndex(0);
    if (!(thrown instanceof ForbiddenException)) forgetUser(client);
    return wsRefusal(thrown, reason, client);
  },

  tokenReader({ options, onExtractorError }) {
    const read = wsTokenReader(options?.websocket?.token ?? null, onExtractorError);
    return (_context, client) => read(client);
  },

  peers: [websocketsPeer],
};
