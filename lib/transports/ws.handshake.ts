import { Inject, Injectable, Logger, Optional, type OnModuleInit } from '@nestjs/common';
import { AuthModuleOptions } from '@nestjs/passport';
import { JwksArgumentError, JwksOptionsError, JwtVerificationError, KeySetUnavailableError } from '../errors/jwks.errors.js';
import { describeValue, isPlainObject, unknownKeys } from '../options/option.checks.js';
import { JWKS_DEFAULTS, JWKS_RESOLVED_OPTIONS, JWKS_WS_CLOSE_CODES } from '../jwks-auth.constants.js';
import type { ResolvedJwksOptions } from '../interfaces/jwks-auth-options.interface.js';
import { errorName, RefusalLog } from '../guards/refusal.log.js';
import { isUsableUserProperty, REQUEST_USER_PROPERTY } from '../guards/request-user.property.js';
import type { JwtClaims } from '../verify/claims.validator.js';
import { JwtVerifier, type VerifiedToken } from '../verify/jwt.verifier.js';
import { websocketsPeer, wsRefusalBody, type JwksWsRefusalBody } from './ws.refusal.js';
import { wsTokenReader, type ClientTokenReader } from './ws.token.js';
import { rememberUpgradeRequest } from './ws-upgrade.registry.js';

/** The outcome of authenticating one connection. */
export type JwksWsHandshakeResult = { readonly ok: true; readonly claims: JwtClaims } | { readonly ok: false; readonly refusal: JwksWsRefusalBody };

/** Options of `JwksWsHandshake.attach()`. */
export interface JwksWsAttachOptions {
  /**
   * Refuse a connection without a valid token at the handshake. Default true. `false`: refuse
   * nobody; a valid token still puts the user on the client for `handleConnection`, an absent or
   * invalid one leaves it undefined (and with `ws` the upgrade request is still recorded for the
   * guard): for a gateway that also serves `@Public()` handlers to anonymous clients.
   */
  refuse?: boolean;
}

/** What a socket.io middleware is called with; socket.io itself is never imported. */
export type JwksSocketIoMiddleware = (socket: unknown, next: (err?: Error) => void) => void;

/** socket.io's `connect_error` carries `message` and `data` of the error a middleware passed on. */
type SocketIoRefusal = Error & { data: JwksWsRefusalBody };

/** The parts of a socket.io `Server`/`Namespace` and of a `ws` `WebSocketServer` used here. */
interface ServerLike {
  use?: (middleware: JwksSocketIoMiddleware) => unknown;
  on?: (event: 'connection', listener: (client: unknown, request: unknown) => void) => unknown;
}

/**
 * Authenticates WebSocket connections once, at connect, so a client without a valid token is
 * turned away at connect; `JwksAuthGuard` still checks every guarded message (a token can expire
 * mid-connection). `JwksAuthModule` provides and exports it: inject it into the gateway and call
 * `attach` in `afterInit`:
 *
 * ```ts
 * afterInit(server: Server) {
 *   this.handshake.attach(server);
 * }
 * ```
 *
 * - socket.io: a middleware; a refused client's `connect_error` has `message` ('Unauthorized' or
 *   'Service Unavailable') and `data` (a `JwksWsRefusalBody`: `data.code`, `data.retryAfter`).
 * - `ws`: records each connection's upgrade request (which the guard needs to read the token on
 *   later messages), then closes a refused connection with `JWKS_WS_CLOSE_CODES` (4401, or 1013
 *   when no key set is held) and the message as the close reason. `ws` only hands a connection
 *   over once it is open, so the client sees `open` first, the gateway's `handleConnection` still
 *   runs (with no user), and messages the client sent before it read the close still reach the
 *   handlers: the guard refuses them, an unguarded handler runs (its reply is not sent). Refusing
 *   the upgrade itself (`verifyClient`, HTTP 401) would hide the reason from browsers (their
 *   `WebSocket` sees only 1006) and could not run a `websocket.token` function, which reads the
 *   open `WebSocket`.
 *
 * An accepted connection's verified claims are written where `@CurrentUser()` reads them
 * (`client.user`, or `userProperty`), so `handleConnection` can use them (on `ws`, when the key was
 * in memory; the first connection after startup may be verified just after `handleConnection`);
 * with `mapUser` configured they are not (the guard maps them per message). A `@Public()`
 * handler sees the user of the connection's last accepted check, which may have expired since;
 * once the guard refuses a message of the connection as unauthenticated (not a 403), the user is
 * taken off the client until a later message is accepted.
 */
@Injectable()
export class JwksWsHandshake implements OnModuleInit {
  private readonly logger = new Logger('JwksWsHandshake');
  private readonly refusalLog = new RefusalLog(this.logger);
  private readonly readToken: ClientTokenReader;
  /** Where the claims are written; null: not at all (`mapUser` is the guard's). */
  private readonly property: string | null;
  /** socket.io's `next` threw after a deferred check: logged, never an unhandled rejection. */
  private readonly onCallbackError = (err: unknown): void => this.logger.error(`socket.io middleware callback threw ${errorName(err)}`);

  constructor(
    private readonly verifier: JwtVerifier,
    @Optional() @Inject(JWKS_RESOLVED_OPTIONS) private readonly options?: ResolvedJwksOptions,
    @Optional() passport?: AuthModuleOptions,
  ) {
    this.readToken = wsTokenReader(options?.websocket?.token ?? null, (err) => this.refusalLog.refused(`token extractor threw ${errorName(err)}`, true));
    const property: unknown = options?.userProperty ?? (passport as { property?: unknown } | undefined)?.property ?? 'user';
    this.property = options?.mapUser != null || !isUsableUserProperty(property) ? null : property;
  }

  /** The guard's refusals need `@nestjs/websockets`' `WsException`: loaded here too, for an app whose guard is built by hand. */
  onModuleInit(): Promise<void> {
    return websocketsPeer.preload();
  }

  /**
   * Protects a gateway's server, given as `afterInit` receives it: a socket.io `Server` or
   * `Namespace` (a middleware; the root `Server` covers the main namespace, as socket.io's own
   * `use` does), or a `ws` `WebSocketServer` (see the class).
   * @throws JwksOptionsError when `server` is neither
   * @throws JwksArgumentError when `options` is not `{ refuse?: boolean }`
   */
  attach(server: unknown, options?: JwksWsAttachOptions): void {
    const refuse = attachRefuse(options);
    const s = server as ServerLike | null | undefined;
    if (typeof s?.use === 'function') {
      s.use(refuse ? this.socketIoMiddleware() : this.socketIoIdentifier());
      return;
    }
    if (typeof s?.on === 'function') {
      // Listens before Nest's own connection listener (afterInit runs first): the request is
      // recorded, and the user written, before handleConnection and before any message.
      s.on('connection', (client, request) => {
        rememberUpgradeRequest(client, request);
        if (refuse) this.settle(client, this.check(client));
        else void this.check(client, false);
      });
      return;
    }
    throw new JwksOptionsError([`JwksWsHandshake.attach() takes the server a gateway's afterInit receives (a socket.io Server or Namespace, or a ws WebSocketServer), got ${server === null ? 'null' : typeof server}`]);
  }

  /** `refuse: false` on socket.io: admits every client, with the user on it when its token is valid. */
  private socketIoIdentifier(): JwksSocketIoMiddleware {
    return (socket, next) => {
      const result = this.check(socket, false);
      if (result instanceof Promise) result.then(() => next()).catch(this.onCallbackError);
      else next();
    };
  }

  /** A socket.io middleware, for `server.use(...)`: refuses with `connect_error` (see the class). */
  socketIoMiddleware(): JwksSocketIoMiddleware {
    const answer = (result: JwksWsHandshakeResult, next: (err?: Error) => void): void => {
      if (result.ok) return next();
      const err = new Error(result.refusal.message) as SocketIoRefusal;
      err.data = result.refusal;
      next(err);
    };
    return (socket, next) => {
      const result = this.check(socket);
      if (result instanceof Promise) result.then((r) => answer(r, next)).catch(this.onCallbackError);
      else answer(result, next);
    };
  }

  /**
   * Authenticates an open connection and closes it when refused: a `ws` client with a close code
   * of `JWKS_WS_CLOSE_CODES`, a socket.io client after an `exception` event carrying the refusal.
   * For a `ws` gateway's `handleConnection(client, request)` when `attach` does not fit: pass the
   * request, which the guard needs on later messages.
   */
  async verifyConnection(client: unknown, request?: unknown): Promise<JwksWsHandshakeResult> {
    if (request !== undefined) rememberUpgradeRequest(client, request);
    const result = await this.check(client);
    if (!result.ok) close(client, result.refusal);
    return result;
  }

  /** Closes `client` when refused: at once when the key was in memory, else once verified. */
  private settle(client: unknown, result: JwksWsHandshakeResult | Promise<JwksWsHandshakeResult>): void {
    if (result instanceof Promise) void result.then((r) => r.ok || close(client, r.refusal));
    else if (!result.ok) close(client, result.refusal);
  }

  /**
   * Verifies the client's token (`websocket.token`) and, when accepted, writes the claims where
   * `@CurrentUser()` reads them. Never rejects: a refusal is a result.
   */
  async authenticate(client: unknown): Promise<JwksWsHandshakeResult> {
    return this.check(client);
  }

  /**
   * `authenticate`, synchronous when the key is in memory (the common case): the claims are then
   * on the client before the gateway's `handleConnection` runs, and a refused `ws` connection is
   * closed before it. Never rejects.
   * @param log whether a refusal is logged (not when nobody is refused: an anonymous client is no event)
   */
  private check(client: unknown, log = true): JwksWsHandshakeResult | Promise<JwksWsHandshakeResult> {
    let verified: VerifiedToken | Promise<VerifiedToken>;
    try {
      verified = this.verifier.verifyOrDefer(this.readToken(client));
    } catch (err) {
      return { ok: false, refusal: this.refusal(err, log) };
    }
    if (verified instanceof Promise) {
      return verified.then(
        (v) => this.accept(client, v.claims),
        (err: unknown) => ({ ok: false, refusal: this.refusal(err, log) }),
      );
    }
    return this.accept(client, verified.claims);
  }

  private accept(client: unknown, claims: JwtClaims): JwksWsHandshakeResult {
    this.writeUser(client, claims);
    return { ok: true, claims };
  }

  /** As the guard's `handleRequest`: 503 only when no key set is held and `unavailableStatus` says so. */
  private refusal(err: unknown, log: boolean): JwksWsRefusalBody {
    let status = 401;
    if (err instanceof JwtVerificationError) {
      if (log) this.refusalLog.refused(err.code);
      if (err instanceof KeySetUnavailableError && (this.options?.unavailableStatus ?? JWKS_DEFAULTS.unavailableStatus) === 503) status = 503;
    } else {
      // Not the client's doing (a bug, an extractor's throw): logged even when nobody is refused.
      this.refusalLog.refused(errorName(err), true);
    }
    return wsRefusalBody(status, err)!;
  }

  private writeUser(client: unknown, claims: JwtClaims): void {
    const property = this.property;
    if (property === null || typeof client !== 'object' || client === null) return;
    try {
      (client as Record<string, unknown>)[property] = claims;
      if (property !== 'user') (client as Record<symbol, unknown>)[REQUEST_USER_PROPERTY] = property;
    } catch {
      // A frozen client: the guard writes (or refuses) per message anyway.
    }
  }
}

/** `attach`'s `refuse`, after checking its options: a typo (`{ refuse: 'false' }`, `{ refused: false }`) must not silently refuse or admit. */
function attachRefuse(options: unknown): boolean {
  if (options === undefined) return true;
  if (!isPlainObject(options)) throw new JwksArgumentError(`JwksWsHandshake.attach() options must be { refuse?: boolean }, got ${describeValue(options)}`);
  const problems: string[] = [];
  unknownKeys(problems, '', options, ATTACH_KEYS);
  if (options.refuse !== undefined && typeof options.refuse !== 'boolean') problems.push(`"refuse" must be true or false, got ${describeValue(options.refuse)}`);
  if (problems.length > 0) throw new JwksArgumentError(`JwksWsHandshake.attach() options: ${problems.join('; ')}`);
  return (options.refuse as boolean | undefined) ?? true;
}

const ATTACH_KEYS = ['refuse'] as const;

/** Ends a refused connection the way each library can tell the client why. */
function close(client: unknown, refusal: JwksWsRefusalBody): void {
  const c = client as { readyState?: unknown; close?: (code: number, reason: string) => void; emit?: (event: string, body: unknown) => void; disconnect?: (close: boolean) => void };
  try {
    if (typeof c.readyState === 'number' && typeof c.close === 'function') {
      const code = refusal.code === 'SERVICE_UNAVAILABLE' ? JWKS_WS_CLOSE_CODES.unavailable : JWKS_WS_CLOSE_CODES.unauthorized;
      c.close(code, refusal.message);
    } else if (typeof c.disconnect === 'function') {
      c.emit?.('exception', refusal);
      c.disconnect(true);
    }
  } catch {
    // Already closed, or not a client at all: nothing is left to refuse.
  }
}
