import { Controller, ForbiddenException, Get, HttpCode, Post, UseGuards } from '@nestjs/common';
import { CurrentUser, JwksAuthGuard, JwksCacheService, type JwksCacheState } from 'nestjs-jwks-auth';

/**
 * Operations on the key-set cache, for tokens carrying the `jwks:admin` scope. Call the refresh
 * route after rotating keys at your IdP to pick the new set up before its first token arrives.
 */
@Controller('admin/jwks')
@UseGuards(JwksAuthGuard)
export class AdminController {
  constructor(private readonly jwks: JwksCacheService) {}

  @Get()
  state(@CurrentUser('scope') scope?: string): JwksCacheState {
    requireAdmin(scope);
    return this.jwks.getState();
  }

  @Post('refresh')
  @HttpCode(200)
  async refresh(@CurrentUser('scope') scope?: string): Promise<JwksCacheState> {
    requireAdmin(scope);
    return this.jwks.refresh();
  }
}

function requireAdmin(scope: unknown): void {
  if (typeof scope !== 'string' || !scope.split(' ').includes('jwks:admin')) {
    throw new ForbiddenException('needs the jwks:admin scope');
  }
}
