import { BadRequestException, Body, Controller, Get, HttpCode, HttpException, HttpStatus, Param, Post, Query, Res, UseGuards, type Type } from '@nestjs/common';
import { JwksCacheService } from '../services/jwks-cache.service.js';
import { JwksArgumentError, JwksRefreshDeferredError } from '../errors/jwks.errors.js';
import { Scopes } from '../authorization/grant.decorators.js';
import type { JwksCacheState } from '../services/jwks-cache.service.js';
import type { ResolvedAdminOptions } from './admin.options.js';

/** The bit of an Express or Fastify reply the refresh route touches. */
interface ReplyHeaders {
  header(name: string, value: string): unknown;
}

/**
 * Builds the admin controller for one module: a class made here, so its path and the user's guard
 * are applied per `forRoot` (two modules get two controllers). Every route answers only after the
 * user's guard (and, with `globalGuard`, the module's own guard: the admin routes are never
 * `@Public()`, so a valid token is needed too). Never returns a token or a key, only states.
 */
export function createAdminController(options: ResolvedAdminOptions): Type<unknown> {
  class JwksAdminController {
    constructor(readonly jwks: JwksCacheService) {}

    /** Every issuer's state, by issuer. */
    states(): Record<string, JwksCacheState> {
      return this.jwks.getStates();
    }

    /** One issuer's state; the issuer URL-encoded in the path. */
    state(issuer: string): JwksCacheState {
      return badRequestOnArgumentError(() => this.jwks.getState(issuer));
    }

    /**
     * Fetch the set now. While the IdP asked us to wait (`Retry-After`) or we back off after
     * failures: 429 with `Retry-After`, nothing fetched, unless `force` (the caller takes that on).
     */
    async refresh(reply: ReplyHeaders, body: unknown, query: Record<string, unknown>): Promise<JwksCacheState> {
      const source = isRecord(body) ? body : {};
      const issuer = stringArg(source.issuer ?? query.issuer, 'issuer');
      const force = booleanArg(source.force ?? query.force);
      try {
        return await badRequestOnArgumentError(() => this.jwks.refresh(issuer, { force }));
      } catch (err) {
        if (!(err instanceof JwksRefreshDeferredError)) throw err;
        reply.header('Retry-After', String(Math.max(1, Math.ceil(err.retryAfterMs / 1000))));
        throw new HttpException({ statusCode: 429, code: err.code, message: err.message, retryAfterMs: err.retryAfterMs }, HttpStatus.TOO_MANY_REQUESTS);
      }
    }

    /**
     * Stop trusting the held set until a fetch started after this call answers (the IdP removed a
     * key): availability first, the set serves meanwhile if that fetch fails. Fleet-wide in fleet mode.
     */
    invalidate(issuerQuery: unknown): JwksCacheState {
      const issuer = stringArg(issuerQuery, 'issuer');
      return badRequestOnArgumentError(() => {
        this.jwks.invalidate(issuer);
        return this.jwks.getState(issuer);
      });
    }

    /** Refuse tokens signed with this key from now on, whatever the IdP publishes (fleet-wide in fleet mode). */
    revoke(kid: string, issuerQuery: unknown): JwksCacheState {
      const issuer = stringArg(issuerQuery, 'issuer');
      return badRequestOnArgumentError(() => {
        this.jwks.revokeKey(kid, issuer);
        return this.jwks.getState(issuer);
      });
    }

    restore(kid: string, issuerQuery: unknown): JwksCacheState {
      const issuer = stringArg(issuerQuery, 'issuer');
      return badRequestOnArgumentError(() => {
        this.jwks.restoreKey(kid, issuer);
        return this.jwks.getState(issuer);
      });
    }
  }

  // Decorators applied by hand: the path and the guard are values of this call, not of the file.
  const proto = JwksAdminController.prototype;
  const route = (name: keyof JwksAdminController, decorators: MethodDecorator[]): void => {
    Reflect.decorate(decorators, proto, name, Object.getOwnPropertyDescriptor(proto, name));
  };
  route('states', [Get()]);
  // `:issuer` after the fixed routes' names would shadow nothing: those are POST, this is GET.
  route('state', [Get(':issuer')]);
  route('refresh', [Post('refresh'), HttpCode(200)]);
  route('invalidate', [Post('invalidate'), HttpCode(200)]);
  route('revoke', [Post('revoke/:kid'), HttpCode(200)]);
  route('restore', [Post('restore/:kid'), HttpCode(200)]);
  paramDecorate(proto, 'state', 0, Param('issuer'));
  paramDecorate(proto, 'refresh', 0, Res({ passthrough: true }));
  paramDecorate(proto, 'refresh', 1, Body());
  paramDecorate(proto, 'refresh', 2, Query());
  paramDecorate(proto, 'invalidate', 0, Query('issuer'));
  paramDecorate(proto, 'revoke', 0, Param('kid'));
  paramDecorate(proto, 'revoke', 1, Query('issuer'));
  paramDecorate(proto, 'restore', 0, Param('kid'));
  paramDecorate(proto, 'restore', 1, Query('issuer'));
  // The constructor's dependency, as `emitDecoratorMetadata` would have written it.
  Reflect.defineMetadata('design:paramtypes', [JwksCacheService], JwksAdminController);
  const classDecorators: ClassDecorator[] = [Controller(options.path), UseGuards(options.guard)];
  if (options.scopes.length > 0) classDecorators.push(Scopes(...options.scopes));
  Reflect.decorate(classDecorators, JwksAdminController);
  return JwksAdminController;
}

function paramDecorate(proto: object, name: string, index: number, decorator: ParameterDecorator): void {
  decorator(proto, name, index);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringArg(value: unknown, name: string): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string') throw new BadRequestException({ statusCode: 400, code: 'ERR_JWKS_ARGUMENT', message: `${name} must be a string` });
  return value;
}

/** `force` from JSON (`true`) or a query string (`force=true`, `force=1`). */
function booleanArg(value: unknown): boolean {
  if (value === undefined || value === false || value === 'false' || value === '0' || value === '') return false;
  if (value === true || value === 'true' || value === '1') return true;
  throw new BadRequestException({ statusCode: 400, code: 'ERR_JWKS_ARGUMENT', message: 'force must be true or false' });
}

/** A bad kid, an unknown issuer or a full revocation list is the caller's mistake: 400, not 500. */
function badRequestOnArgumentError<T>(action: () => T): T {
  try {
    return action();
  } catch (err) {
    if (err instanceof JwksArgumentError) throw new BadRequestException({ statusCode: 400, code: err.code, message: err.message });
    throw err;
  }
}
