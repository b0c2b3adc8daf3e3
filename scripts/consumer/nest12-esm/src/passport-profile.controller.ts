import { Controller, Get, Req, UseGuards } from '@nestjs/common';
import { AuthGuard } from '@nestjs/passport';
import type { JwtClaims } from 'nestjs-jwks-auth';

/** For apps that compose Passport strategies: the package's `'jwks'` strategy. */
@Controller('passport')
@UseGuards(AuthGuard('jwks'))
export class PassportProfileController {
  @Get('me')
  me(@Req() request: { user: JwtClaims }): JwtClaims {
    return request.user;
  }
}
