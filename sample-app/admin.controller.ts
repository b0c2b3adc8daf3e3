import { BadRequestException, Controller, Get, HttpCode, HttpException, HttpStatus, Param, Post, Res, UseGuards } from '@nestjs/common';
import { JwksArgumentError, JwksAuthGuard, JwksCacheService, JwksRefreshDeferredError, Scopes, type JwksCacheState } from 'nestjs-jwks-auth';

/** The bit of an Express or Fastify reply this controller touches. */
interface ReplyHeaders {
  header(name: string, value: string): unknown;
}

/**
 * Operations on the key-set cache, for tokens carrying the `jwks:admin` scope: read the state,
 * refresh after rotating keys at your IdP, and revoke a compromised key at once (restore it later).
 */
@Controller('admin/jwks')
@UseGuards(JwksAuthGuard)
// Every route here: 403 with `WWW-Authenticate: Bearer error="insufficient_scope", scope="jwks:admin"` without it.
@Scopes('jwks:admin')
export class AdminController {
  constructor(private readonly jwks: JwksCacheService) {}

  @Get()
  state(): JwksCacheState {
    return this.jwks.getState();
  }

  /**
   * Fetch the set now. While the IdP asked us to wait (`Retry-After`) or we back off after
   * failures, answer 429 with the wait left instead of spending a request the IdP refused: an
   * admin token must not be a way to hammer the IdP. (`refresh({ force: true })` exists for code
   * that really must.)
   */
  @Post('refresh')
  @HttpCode(200)
  async refresh(@Res({ passthrough: true }) reply: ReplyHeaders): Promise<JwksCacheState> {
    try {
      return await this.jwks.refresh();
    } catch (err) {
      if (!(err instanceof JwksRefreshDeferredError)) throw err;
      reply.header('Retry-After', String(Math.max(1, Math.ceil(err.retryAfterMs / 1000))));
      throw new HttpException({ statusCode: 429, code: err.code, message: err.message }, HttpStatus.TOO_MANY_REQUESTS);
    }
  }

  /** Refuse tokens signed with this key from now on, whatever the IdP publishes. */
  @Post('revoke/:kid')
  @HttpCode(200)
  revoke(@Param('kid') kid: string): JwksCacheState {
    badRequestOnArgumentError(() => this.jwks.revokeKey(kid));
    return this.jwks.getState();
  }

  @Post('restore/:kid')
  @HttpCode(200)
  restore(@Param('kid') kid: string): JwksCacheState {
    badRequestOnArgumentError(() => this.jwks.restoreKey(kid));
    return this.jwks.getState();
  }
}

/** A kid that is not a key id (or a full revocation list) is the caller's mistake: 400, not 500. */
function badRequestOnArgumentError(action: () => void): void {
  try {
    action();
  } catch (err) {
    if (err instanceof JwksArgumentError) throw new BadRequestException({ statusCode: 400, code: err.code, message: err.message });
    throw err;
  }
}
