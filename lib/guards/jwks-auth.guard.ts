import {
  Inject,
  Injectable,
  Logger,
  Optional,
  ServiceUnavailableException,
  UnauthorizedException,
  type ExecutionContext,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard, AuthModuleOptions } from '@nestjs/passport';
import { DOCS_IS_PUBLIC_KEY, IS_PUBLIC_KEY, JWKS_DEFAULTS, JWKS_RESOLVED_OPTIONS, JWKS_STRATEGY_NAME } from '../jwks-auth.constants.js';
import type { ResolvedJwksOptions } from '../interfaces/jwks-auth-options.interface.js';
import { JwtVerificationError, KeySetUnavailableError, TokenMissingError } from '../errors/jwks.errors.js';
import { JwtVerifier, type VerifiedToken } from '../verify/jwt.verifier.js';
import { extractBearerToken } from './authorization.header.js';
import { CHALLENGE_INVALID_TOKEN, CHALLENGE_NO_TOKEN, retryAfterSeconds } from './refusal.headers.js';
import { RefusalLog } from './refusal.log.js';
import type { HeaderSink } from '../transports/transport.js';
import { requestOf, transportOf } from '../transports/transport.registry.js';

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
export class JwksAuthGuard extends AuthGuard(JWKS_STRATEGY_NAME) {
  protected readonly logger = new Logger('JwksAuthGuard');
  private readonly refusalLog = new RefusalLog(this.logger);
  /** Per controller class, per handler: whether the route is public. Metadata is fixed once decorated. */
  private readonly publicRoutes = new WeakMap<object, WeakMap<object, boolean>>();

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
      result = this.verifier.verifyOrDefer(this.extractToken(request));
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

  private conclude(context: ExecutionContext, request: unknown, error: unknown, user: unknown): true {
    let accepted: unknown;
    try {
      accepted = this.handleRequest(error, user, error, context);
    } catch (err) {
      this.setRefusalHeaders(context, error, err);
      // HTTP: as thrown. GraphQL: an error with `extensions.code` (see lib/transports).
      throw transportOf(context)?.refusal(err, error) ?? err;
    }
    if (typeof request === 'object' && request !== null) {
      try {
        (request as { user?: unknown }).user = accepted;
      } catch {
        // A frozen or proxied non-HTTP payload: the handler could not see who called. Refuse.
        this.refusalLog.refused('request object not writable', true);
        throw transportOf(context)?.refusal(new UnauthorizedException(), null) ?? new UnauthorizedException();
      }
    }
    return true;
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
        this.refusalLog.refused((err as Error)?.name ?? 'error', true);
      }
      throw new UnauthorizedException();
    }
    return user as TUser;
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
    const handler = context.getHandler();
    const controller = context.getClass();
    // Two metadata reads per key and request otherwise; decorators run once, at class definition.
    if (typeof handler !== 'function' || typeof controller !== 'function') {
      return this.readPublic([handler, controller].filter((t) => typeof t === 'function'));
    }
    let byHandler = this.publicRoutes.get(controller);
    if (byHandler === undefined) this.publicRoutes.set(controller, (byHandler = new WeakMap()));
    let isPublic = byHandler.get(handler);
    if (isPublic === undefined) byHandler.set(handler, (isPublic = this.readPublic([handler, controller])));
    return isPublic;
  }

  private readPublic(targets: Parameters<Reflector['getAllAndOverride']>[1]): boolean {
    return (
      this.reflector.getAllAndOverride<boolean>(IS_PUBLIC_KEY, targets) === true ||
      this.reflector.getAllAndOverride<boolean>(DOCS_IS_PUBLIC_KEY, targets) === true
    );
  }

  /**
   * The bearer token of the Authorization header (RFC 6750 §2.1). A header sent twice is refused:
   * Node keeps the first, a proxy may have read the last.
   */
  protected extractToken(request: unknown): string {
    return extractBearerToken(request);
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
