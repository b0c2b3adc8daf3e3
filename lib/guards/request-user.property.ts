/**
 * Where the guard wrote the user on a request, when not in `user` (PassportModule's `property`,
 * or the `userProperty` option): `@CurrentUser()` reads it there. Not set when the property is
 * `user`, so the default path writes nothing more.
 */
export const REQUEST_USER_PROPERTY: unique symbol = Symbol('jwks-auth:userProperty');

/** The user the guard wrote on `request`, wherever it was written. */
export function requestUser(request: unknown): unknown {
  if (typeof request !== 'object' || request === null) return undefined;
  const r = request as Record<string | symbol, unknown>;
  const property = r[REQUEST_USER_PROPERTY];
  return typeof property === 'string' ? r[property] : r.user;
}

/**
 * Takes back the user written on a long-lived `client` (a WebSocket), wherever it was written:
 * set to undefined rather than deleted, so the client's shape stays as it was.
 */
/** How many times a refusal took the user off a request-like object (see `userEpoch`). */
const USER_EPOCH = Symbol('jwks-auth.userEpoch');

/**
 * A count that `forgetUser` advances: an accepted call whose user is assigned late (an async
 * `mapUser`) compares it, so it cannot put back a user a later refusal took off the connection.
 */
export function userEpoch(carrier: unknown): number {
  return typeof carrier === 'object' && carrier !== null ? (((carrier as Record<symbol, unknown>)[USER_EPOCH] as number | undefined) ?? 0) : 0;
}

export function forgetUser(client: unknown): void {
  if (typeof client !== 'object' || client === null) return;
  const c = client as Record<string | symbol, unknown>;
  try {
    c[USER_EPOCH] = userEpoch(c) + 1;
  } catch {
    // A frozen client: nothing was written on it either.
  }
  const property = c[REQUEST_USER_PROPERTY];
  const key = typeof property === 'string' ? property : 'user';
  try {
    if (c[key] !== undefined) c[key] = undefined;
  } catch {
    // A frozen client: nothing was written on it either.
  }
}

/**
 * The member names of the objects the user is written on, which a `userProperty` (or PassportModule's
 * `property`) must not take: writing the user there replaces what the request, socket or context
 * itself uses (`emit` on a socket.io `Socket` crashes its adapter; `headers`, `handshake`,
 * `request` are what the token readers read). Taken from the real objects (own and inherited
 * names, as a test re-checks against the installed versions): an Express and a Fastify request
 * (Node's `IncomingMessage`), a socket.io `Socket`, a `ws` `WebSocket`, Nest's RPC contexts; and
 * the fields of GraphQL contexts (`req`, `res`, `reply`, `connectionParams`, `extra`).
 */
export const CARRIER_MEMBER_NAMES: ReadonlySet<string> = new Set(
  [
    'CLOSED CLOSING CONNECTING OPEN _addHeaderLine _addHeaderLineDistinct _addHeaderLines _autoPong',
    '_autoPongComplete _binaryType _cleanup _closeCode _closeFrameReceived _closeFrameSent',
    '_closeMessage _closeTimeout _closeTimer _consuming _destroy _dump _dumped _error _errorEmitted',
    '_events _eventsCount _extensions _isServer _maxListeners _maxPendingAutoPongs _onclose',
    '_onconnect _onerror _onpacket _parsedUrl _paused _pendingAutoPongs _protocol _read',
    '_readableState _readyState _receiver _sender _socket _undestroy aborted accepts acceptsCharsets',
    'acceptsEncodings acceptsLanguages ack acks adapter addEventListener addListener app args',
    'asIndexedPairs baseUrl binaryType body broadcast bufferedAmount buildHandshake client close',
    'closed compileValidationSchema complete compose compress conn connected connection',
    'connectionParams data destroy destroyed disconnect disconnected dispatch drop emit emitClose',
    'emitReserved emitUntyped emitWithAck errored eventNames every except extensions extra filter',
    'find flags flatMap fns forEach fresh get getArgByIndex getArgs getChannel getChannelRef',
    'getConsumer getDecorator getHeaders getHeartbeat getMaxListeners getMessage getMetadata',
    'getPacket getPartition getPattern getProducer getSocketRef getSubject getTopic',
    'getValidationFunction handshake header headers headersDistinct host hostname httpVersion',
    'httpVersionMajor httpVersionMinor id in ip ips is is404 isPaused iterator join',
    'joinDuplicateHeaders leave leaveAll listenerCount listeners listenersAny listenersAnyOutgoing',
    'local log map mediaType method newBroadcastOperator next notifyOutgoingListeners nsp off offAny',
    'offAnyOutgoing on onAny onAnyOutgoing onack once onclose ondisconnect onerror onevent onmessage',
    'onopen originalUrl packet params path pause ping pipe pong port prependAny prependAnyOutgoing',
    'prependListener prependOnceListener protocol push query range raw rawHeaders rawListeners',
    'rawTrailers read readable readableAborted readableBuffer readableDidRead readableEncoding',
    'readableEnded readableFlowing readableHighWaterMark readableLength readableObjectMode readyState',
    'recovered reduce registerAckCallback removeAllListeners removeEventListener removeListener reply',
    'req request res resume rooms route routeOptions run secure send server setDecorator setEncoding',
    'setMaxListeners setSocket setTimeout signal socket some stale statusCode statusMessage',
    'subdomains take terminate timeout to toArray trailers trailersDistinct unpipe unshift upgrade',
    'url use validateInput volatile wrap write xhr',
  ]
    .join(' ')
    .split(' '),
);

/** What a usable name is, for the messages that refuse one. */
export const USER_PROPERTY_RULE =
  'a property name such as "user" or "account" (letters, digits, _ and $), not one every object has nor a member of the request, socket or context it is written on (such as "emit", "headers", "handshake", "request", "id")';

/**
 * A property name the user may be written under: not one that would change the request's
 * prototype, shadow what every object has, or replace a member of the request, socket or context
 * the user is written on (`CARRIER_MEMBER_NAMES`). Checked once, at startup.
 */
export function isUsableUserProperty(value: unknown): value is string {
  return typeof value === 'string' && /^[A-Za-z_$][A-Za-z0-9_$]{0,63}$/.test(value) && !(value in Object.prototype) && !CARRIER_MEMBER_NAMES.has(value) && value !== 'prototype';
}
