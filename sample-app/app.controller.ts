import { Controller, Get, UseGuards } from '@nestjs/common';
import { CurrentUser, JwksAuthGuard, Public, type JwtClaims } from 'nestjs-jwks-auth';

@Controller()
@UseGuards(JwksAuthGuard)
export class AppController {
  /** Open to everyone. */
  @Public()
  @Get()
  hello(): { message: string } {
    return { message: 'Public route. Try GET /profile with a bearer token.' };
  }

  /** Needs a valid token; answers with its claims. */
  @Get('profile')
  profile(@CurrentUser() claims: JwtClaims): JwtClaims {
    return claims;
  }

  /** One claim by name. */
  @Get('profile/sub')
  subject(@CurrentUser('sub') sub: string): { sub: string } {
    return { sub };
  }
}
