import { Controller, Get, UseGuards } from '@nestjs/common';
import { CurrentUser, JwksAuthGuard, JwksCacheService, Public, type JwksCacheState, type JwtClaims } from 'nestjs-jwks-auth';

@Controller()
@UseGuards(JwksAuthGuard)
export class ProfileController {
  constructor(private readonly jwks: JwksCacheService) {}

  @Public()
  @Get('ping')
  ping(): string {
    return 'pong';
  }

  @Get('me')
  me(@CurrentUser() claims: JwtClaims): JwtClaims {
    return claims;
  }

  @Get('me/id')
  id(@CurrentUser('sub') sub: string): { sub: string } {
    return { sub };
  }

  @Get('keys')
  keys(): Pick<JwksCacheState, 'phase' | 'keyCount'> {
    const { phase, keyCount } = this.jwks.getState();
    return { phase, keyCount };
  }
}
