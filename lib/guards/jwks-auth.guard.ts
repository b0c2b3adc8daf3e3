import { Injectable, Logger, Optional, UnauthorizedException, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard, AuthModuleOptions } from '@nestjs/passport';
import { IS_PUBLIC_KEY, JWKS_STRATEGY_NAME } from '../jwks-auth.constants.js';
import { JwtVerificationError, TokenMalformedError, TokenMissingError } from '../errors/jwks.errors.js';
import { JwtVerifier, type VerifiedToken } from '../verify/jwt.verifier.js';
import { RefusalLog } from './refusal.log.js';

const CHALLENGE = 'Bearer error="invalid_token"';
const BEARER = /^Bearer[ \t]+([^ \t]+)[ \t]*$/i;

/** The part of an HTTP request the guard reads; the argument of the `extractToken` hook. */
export interface HttpRequestLike {
  headers?: Record<string, string | string[] | undefined>;
  user?: unknown;
}

/**
 * Protects routes with a bearer token verified against the issuer's JWKS.
 *
 * Extends `AuthGuard('jwks')` so it keeps Passport's shape (`getRequest`, `handleRequest` can be
 * overridden as usual) but calls `JwtVerifier` directly instead of `passport.authenticate`, which
 * costs more per request than the signature check itself. Honours `@Public()`. Refusals are a
 * generic 401 with an RFC 6750 challenge; the reason goes to the debug log, by error code only.
 */
@Injectable()
export class JwksAuthGuard extends AuthGuard(JWKS_STRATEGY_NAME) {
  protected readonly logger = new Logger('JwksAuthGuard');
  private readonly refusalLog = new RefusalLog(this.logger);

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
    const request: HttpRequestLike = this.getRequest(context);
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

  private conclude(context: ExecutionContext, request: HttpRequestLike, error: unknown, user: unknown): true {
    try {
      request.user = this.handleRequest(error, user, error, context);
      return true;
    } catch (err) {
      if (err instanceof UnauthorizedException) this.setChallenge(context);
      throw err;
    }
  }

  /** Same contract as `AuthGuard.handleRequest`: return the user or throw. */
  override handleRequest<TUser = unknown>(err: unknown, user: unknown, _info?: unknown, _context?: ExecutionContext): TUser {
    if (err || !user) {
      if (err instanceof JwtVerificationError) {
        this.refusalLog.refused(err.code);
      } else if (err) {
        // Not a verification outcome: a bug or an infrastructure fault. Log it, still answer 401.
        this.refusalLog.refused((err as Error)?.name ?? 'error', true);
      }
      throw new UnauthorizedException();
    }
    return user as TUser;
  }

  /** `@Public()` on the handler or its controller skips authentication. */
  protected shouldSkip(context: ExecutionContext): boolean {
    return this.reflector.getAllAndOverride<boolean>(IS_PUBLIC_KEY, [context.getHandler(), context.getClass()]) === true;
  }

  /** The bearer token of the Authorization header (RFC 6750 §2.1). */
  protected extractToken(request: HttpRequestLike): string {
    const header = request.headers?.authorization;
    if (header === undefined) throw new TokenMissingError('no Authorization header');
    if (typeof header !== 'string') throw new TokenMalformedError('more than one Authorization header');
    const match = BEARER.exec(header);
    if (!match) throw new TokenMalformedError('Authorization header is not a bearer token');
    return match[1];
  }

  protected setChallenge(context: ExecutionContext): void {
    if (context.getType() !== 'http') return;
    const response = context.switchToHttp().getResponse<{ setHeader?: (n: string, v: string) => void; header?: (n: string, v: string) => void }>();
    if (typeof response?.setHeader === 'function') response.setHeader('WWW-Authenticate', CHALLENGE);
    else if (typeof response?.header === 'function') response.header('WWW-Authenticate', CHALLENGE);
  }
}
