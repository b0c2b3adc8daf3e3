import {
  ForbiddenException,
  Inject,
  Injectable,
  Logger,
  Optional,
  ServiceUnavailableException,
  UnauthorizedException,
  type ExecutionContext,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard, AuthModuleOptions } from '@nestjs/passport';
import { DOCS_IS_PUBLIC_KEY, IS_PUBLIC_KEY, JWKS_DEFAULTS, JWKS_RESOLVED_OPTIONS, JWKS_STRATEGY_NAME } from '../jwks-auth.constants.js';
import type { JwksUserMapper, ResolvedJwksOptions } from '../interfaces/jwks-auth-options.interface.js';
import { InsufficientGrantError, JwksOptionsError, JwtVerificationError, KeySetUnavailableError, TokenMissingError } from '../errors/jwks.errors.js';
import { insufficientScopeChallenge } from '../authorization/grant.challenge.js';
import { routeGrantRequirements } from '../authorization/grant.requirements.js';
import { unmetRequirement } from '../authorization/grants.policy.js';
import type { JwtClaims } from '../verify/claims.validator.js';
import { JwtVerifier, type VerifiedToken } from '../verify/jwt.verifier.js';
import { extractBearerToken } from './authorization.header.js';
import { CHALLENGE_INVALID_TOKEN, CHALLENGE_NO_TOKEN, retryAfterSeconds } from './refusal.headers.js';
import { errorName, RefusalLog } from './refusal.log.js';
import { RouteMemo } from '../decorators/route.memo.js';
import { isUsableUserProperty, REQUEST_USER_PROPERTY, userEpoch, USER_PROPERTY_RULE } from './request-user.property.js';
import { compileTokenSource, type TokenReader } from './token.source.js';
import type { ContextTokenReader, HeaderSink, Transport } from '../transports/transport.js';
import { preloadTransportPeers, requestOf, transportOf } from '../transports/transport.registry.js';
import { gatewayCallPassed } from '../transports/gateway.guards.js';

/** What the guard derives from its options once, on its first request (the options are property-injected). */
interface GuardSetup {
  readonly readToken: TokenReader;
  /** Where the user is written: `user` unless PassportModule's `property` or `userProperty` says otherwise. */
  readonly property: string;
  readonly mapUser: JwksUserMapper | null;
  /** Each non-HTTP transport's token reader, built on its first call. */
  readonly transportReaders: Map<Transport, ContextTokenReader>;
}

/**
 * Protects routes with a bearer token verified against the issuer's JWKS.
 *
 * Extends `AuthGuard('jwks')` so it keeps Passport's shape (`getRequest`, `handleRequest` can be
 * overridden as usual) but calls `JwtVerifier` directly instead of `passport.authenticate`, which
 * costs more per request than the signature check itself. Honours `@Public()` (ours, and the
 * NestJS docs' `'isPublic'` metadata).
 *
 * Refusals: a generic 401 with an RFC 6750 challenge (`Bearer` when no bearer token was sent,
 * `Bearer error="invalid_token"` when one was refused); the reason goes to the debug log, by error
 * code only. When no usable key set is held, a presented token gets 503 with `Retry-After`
 * instead (the token is not at fault), unless `unavailableStatus` is 401.
 */
@Injectable()
export class JwksAuthGuard extends AuthGuard(JWKS_STRATEGY_NAME) implements OnModuleInit, OnModuleDestroy {
  protected readonly logger = new Logger('JwksAuthGuard');
  private readonly refusalLog = new RefusalLog(this.logger);
  /** Per route, once: whether it is public. */
  private readonly publicRoutes = new RouteMemo((handler, controller) => this.readPublic([handler, controller].filter((t) => typeof t === 'function')));
  private setup?: GuardSetup;
  /** A user-supplied token extractor threw: the app's bug, logged by the error's name only. */
  private readonly extractorThrew = (err: unknown): void => this.refusalLog.refused(`token extractor threw ${errorName(err)}`, true);
  /**
   * Per operation of a transport with many guarded calls per operation (GraphQL: one per guarded
   * field, and aliases multiply fields): the token verified for it, reused while still valid, so a
   * query of 3,000 aliased fields costs one signature check, not 3,000.
   */
  private readonly operations = new WeakMap<object, { readonly token: string; readonly verified: VerifiedToken }>();

  /**
   * Property-injected, so a subclass with a constructor of its own still honours the options.
   * Absent when the guard is built by hand: the defaults apply.
   */
  @Optional()
  @Inject(JWKS_RESOLVED_OPTIONS)
  protected readonly resolvedOptions?: ResolvedJwksOptions;

  constructor(
    protected readonly reflector: Reflector,
    protected readonly verifier: JwtVerifier,
    @Optional() options?: AuthModuleOptions,
  ) {
    super(options);
  }

  /** Loads the optional packages whose exception classes the WebSocket and microservice refusals need, when installed. */
  onModuleInit(): Promise<void> {
    return preloadTransportPeers();
  }

  /** @internal Set by `globalGuard` (see `guardGateways`): takes this guard off the gateway classes again. */
  releaseGateways?: () => void;

  /** Class metadata outlives the app: a later app in this process must not meet this guard on its gateways. */
  onModuleDestroy(): void {
    this.releaseGateways?.();
    this.releaseGateways = undefined;
  }

  /**
   * Synchronous when the key is in memory (the common case), a promise only when the key set must
   * be fetched first: Nest accepts either.
   */
  override canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    if (this.shouldSkip(context)) return true;
    // Outside HTTP this is whatever the transport passes first (a payload, a socket, nothing).
    const request: unknown = this.getRequest(context);
    let result: VerifiedToken | Promise<VerifiedToken>;
    try {
      result = context.getType() === 'http' ? this.verifier.verifyOrDefer(this.extractToken(request)) : this.verifyInTransport(context, request);
    } catch (err) {
      return this.conclude(context, request, err, false);
    }
    if (result instanceof Promise) {
      return result.then(
        (verified) => this.conclude(context, request, null, verified.claims),
        (err: unknown) => this.conclude(context, request, err, false),
      );
    }
    return this.conclude(context, request, null, result.claims);
  }

  private conclude(context: ExecutionContext, request: unknown, error: unknown, user: unknown): true | Promise<true> {
    let accepted: unknown;
    try {
      accepted = this.handleRequest(error, user, error, context);
    } catch (err) {
      this.setRefusalHeaders(context, error, err);
      // HTTP: as thrown. GraphQL: an error with `extensions.code` (see lib/transports).
      throw transportOf(context)?.refusal(err, error, context) ?? err;
    }
    // Grants first: the account is loaded (mapUser) only for a token that may use this route.
    this.authorize(context, user as JwtClaims);
    const setup = this.setup ?? this.prepare();
    if (setup.mapUser === null) return this.assignUser(context, request, accepted, setup.property);
    return this.mapUser(context, request, accepted, setup.mapUser, setup.property);
  }

  /** `mapUser`: synchronous unless it returns a promise; a throw or no user is a 401. */
  private mapUser(context: ExecutionContext, request: unknown, claims: unknown, mapUser: JwksUserMapper, property: string): true | Promise<true> {
    let mapped: unknown;
    try {
      mapped = mapUser(claims as Parameters<JwksUserMapper>[0], context);
    } catch (err) {
      return this.refuseMapping(context, err);
    }
    if (typeof (mapped as PromiseLike<unknown> | null)?.then === 'function') {
      // A connection's later call may be refused while this one waits: its user must stay off.
      const epoch = userEpoch(request);
      return Promise.resolve(mapped).then(
        (resolved) => (userEpoch(request) === epoch ? this.assignMapped(context, request, resolved, property) : this.refuseStale(context)),
        (err: unknown) => this.refuseMapping(context, err),
      );
    }
    return this.assignMapped(context, request, mapped, property);
  }

  private assignMapped(context: ExecutionContext, request: unknown, user: unknown, property: string): true {
    if (!user) {
      this.refusalLog.refused('mapUser returned no user');
      this.setHeader(context, 'WWW-Authenticate', CHALLENGE_INVALID_TOKEN);
      throw this.inTransport(context, new UnauthorizedException());
    }
    return this.assignUser(context, request, user, property);
  }

  /** A later call of this connection was refused while `mapUser` ran: the token no longer holds. */
  private refuseStale(context: ExecutionContext): never {
    this.refusalLog.refused('refused meanwhile on this connection');
    this.setHeader(context, 'WWW-Authenticate', CHALLENGE_INVALID_TOKEN);
    throw this.inTransport(context, new UnauthorizedException());
  }

  /** The app's `mapUser` threw: its bug or its outage (a database), not the client's. Logged by name only: a message may hold personal data. */
  private refuseMapping(context: ExecutionContext, err: unknown): never {
    this.refusalLog.refused(`mapUser threw ${errorName(err)}`, true);
    this.setHeader(context, 'WWW-Authenticate', CHALLENGE_INVALID_TOKEN);
    throw this.inTransport(context, new UnauthorizedException());
  }

  private assignUser(context: ExecutionContext, request: unknown, user: unknown, property: string): true {
    if (typeof request === 'object' && request !== null) {
      try {
        if (property === 'user') (request as { user?: unknown }).user = user;
        else {
          (request as Record<string, unknown>)[property] = user;
          (request as Record<symbol, unknown>)[REQUEST_USER_PROPERTY] = property;
        }
      } catch {
        // A frozen or proxied non-HTTP payload: the handler could not see who called. Refuse.
        this.refusalLog.refused('request object not writable', true);
        throw this.inTransport(context, new UnauthorizedException());
      }
    }
    if (context.getType() === 'ws') gatewayCallPassed(context, this.verifier);
    return true;
  }

  /** The refusal in the context's own shape (a GraphQL error with its code); HTTP throws it as it is. */
  private inTransport(context: ExecutionContext, refusal: Error): unknown {
    return transportOf(context)?.refusal(refusal, null, context) ?? refusal;
  }

  /** Reads the options once: they are property-injected, so not yet there in the constructor. */
  private prepare(): GuardSetup {
    const options = this.resolvedOptions;
    const property: unknown = options?.userProperty ?? (this as { options?: { property?: unknown } }).options?.property ?? 'user';
    if (!isUsableUserProperty(property)) {
      throw new JwksOptionsError([`PassportModule's property must be ${USER_PROPERTY_RULE}, got ${JSON.stringify(String(property)).slice(0, 66)}`]);
    }
    const readToken = compileTokenSource(options?.token ?? null, extractBearerToken, this.extractorThrew);
    return (this.setup = { readToken, property, mapUser: options?.mapUser ?? null, transportReaders: new Map() });
  }

  /** A non-HTTP call: the token as its transport reads it, verified once per operation where the transport has operations. */
  private verifyInTransport(context: ExecutionContext, request: unknown): VerifiedToken | Promise<VerifiedToken> {
    const transport = transportOf(context);
    // An unknown context type: whatever `switchToHttp()` gives, read as an HTTP request.
    if (transport === undefined) return this.verifier.verifyOrDefer(this.extractToken(request));
    const token = this.transportToken(transport, context, request);
    const operation = transport.operation?.(context);
    if (operation === undefined) return this.verifier.verifyOrDefer(token);
    const done = this.operations.get(operation);
    if (done !== undefined && done.token === token && this.verifier.stillValid(done.verified)) return done.verified;
    const result = this.verifier.verifyOrDefer(token);
    if (!(result instanceof Promise)) {
      this.operations.set(operation, { token, verified: result });
      return result;
    }
    return result.then((verified) => {
      this.operations.set(operation, { token, verified });
      return verified;
    });
  }

  /** The token of a non-HTTP call, read by its transport's reader (built on first use). */
  private transportToken(transport: Transport, context: ExecutionContext, request: unknown): string {
    const setup = this.setup ?? this.prepare();
    let reader = setup.transportReaders.get(transport);
    if (reader === undefined) {
      reader = transport.tokenReader({
        options: this.resolvedOptions,
        http: (req) => this.extractToken(req),
        onExtractorError: this.extractorThrew,
      });
      setup.transportReaders.set(transport, reader);
    }
    return reader(context, request);
  }

  /**
   * Same contract as `AuthGuard.handleRequest`: return the user or throw. Throws
   * `ServiceUnavailableException` when no usable key set is held (see `unavailableStatus`), else
   * `UnauthorizedException`; both with Nest's generic body.
   */
  override handleRequest<TUser = unknown>(err: unknown, user: unknown, _info?: unknown, _context?: ExecutionContext): TUser {
    if (err || !user) {
      if (err instanceof JwtVerificationError) {
        this.refusalLog.refused(err.code);
        if (err instanceof KeySetUnavailableError && this.unavailableStatus() === 503) throw new ServiceUnavailableException();
      } else if (err) {
        // Not a verification outcome: a bug or an infrastructure fault. Log it, still answer 401.
        this.refusalLog.refused(errorName(err), true);
      }
      throw new UnauthorizedException();
    }
    return user as TUser;
  }

  /**
   * Checks what `@Scopes()`, `@Permissions()` and `@Roles()` demand of the route (handler and
   * controller: both must hold) against the verified claims, read where the token's issuer keeps
   * them (`grantClaims`). Costs two WeakMap reads on a route without these decorators. A missing
   * grant throws `ForbiddenException` (generic body, `InsufficientGrantError` as its `cause`) and,
   * over HTTP, sets `WWW-Authenticate: Bearer error="insufficient_scope"` (RFC 6750 §3.1).
   * Override to answer another transport's way.
   */
  protected authorize(context: ExecutionContext, claims: JwtClaims): void {
    const required = routeGrantRequirements(context);
    if (required === null) return;
    const grants = this.verifier.grantsOf(claims);
    const unmet = unmetRequirement(required, (kind) => grants.read(kind, claims));
    if (unmet === undefined) return;
    const refusal = new InsufficientGrantError(unmet.kind, unmet.mode, unmet.values);
    this.refusalLog.refused(refusal.code);
    this.setHeader(context, 'WWW-Authenticate', insufficientScopeChallenge(unmet));
    throw this.inTransport(context, new ForbiddenException(undefined, { cause: refusal, description: 'Forbidden' }));
  }

  /**
   * The HTTP request, or a transport's request-like object (GraphQL: the context's `req`); see
   * lib/transports. Override as with Passport's `AuthGuard`.
   */
  override getRequest<T = unknown>(context: ExecutionContext): T {
    return requestOf<T>(context);
  }

  /** `@Public()` on the handler or its controller skips authentication; so does the NestJS docs' `'isPublic'`. */
  protected shouldSkip(context: ExecutionContext): boolean {
    return this.publicRoutes.get(context);
  }

  private readPublic(targets: Parameters<Reflector['getAllAndOverride']>[1]): boolean {
    return (
      this.reflector.getAllAndOverride<boolean>(IS_PUBLIC_KEY, targets) === true ||
      this.reflector.getAllAndOverride<boolean>(DOCS_IS_PUBLIC_KEY, targets) === true
    );
  }

  /**
   * The token of the request, from the `token` option's source. By default the bearer token of the
   * Authorization header (RFC 6750 §2.1); a header sent twice is refused: Node keeps the first, a
   * proxy may have read the last.
   */
  protected extractToken(request: unknown): string {
    return (this.setup ?? this.prepare()).readToken(request);
  }

  private unavailableStatus(): 401 | 503 {
    return this.resolvedOptions?.unavailableStatus ?? JWKS_DEFAULTS.unavailableStatus;
  }

  /** The challenge of a 401 (RFC 6750 §3.1) or the `Retry-After` of a 503, by why the token was refused. */
  private setRefusalHeaders(context: ExecutionContext, reason: unknown, thrown: unknown): void {
    if (thrown instanceof UnauthorizedException) {
      this.setHeader(context, 'WWW-Authenticate', reason instanceof TokenMissingError ? CHALLENGE_NO_TOKEN : CHALLENGE_INVALID_TOKEN);
    } else if (thrown instanceof ServiceUnavailableException && reason instanceof KeySetUnavailableError) {
      this.setHeader(context, 'Retry-After', String(retryAfterSeconds(reason.retryAfterMs)));
    }
  }

  protected setHeader(context: ExecutionContext, name: string, value: string): void {
    const response = context.getType() === 'http' ? context.switchToHttp().getResponse<HeaderSink | undefined>() : transportOf(context)?.response(context);
    if (typeof response?.setHeader === 'function') response.setHeader(name, value);
    else if (typeof response?.header === 'function') response.header(name, value);
  }
}
