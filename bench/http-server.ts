import 'reflect-metadata';
import { createPublicKey, verify as cryptoVerify } from 'node:crypto';
import { Controller, Get, Injectable, Module, UnauthorizedException, UseGuards, type CanActivate, type ExecutionContext, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AuthGuard, PassportModule, PassportStrategy } from '@nestjs/passport';
import { ExtractJwt, Strategy as JwtStrategy } from 'passport-jwt';
import { passportJwtSecret } from 'jwks-rsa';
import { JwksAuthGuard, JwksAuthModule } from '../lib';

/**
 * One HTTP server for the HTTP benchmark, in its own process (forked by run.ts):
 *   none  – the route unguarded
 *   limit – a guard that only runs crypto.verify on a cached KeyObject and JSON.parse of the payload
 *   ours  – JwksAuthGuard
 *   usual – AuthGuard('jwt') with passport-jwt + jwks-rsa passportJwtSecret (cache on)
 * Reports its port to the parent over IPC.
 */
const mode = process.argv[2];
const env = { issuer: process.env.ISSUER!, jwksUri: process.env.JWKS_URI!, audience: process.env.AUDIENCE! };

async function limitGuard(): Promise<Type<CanActivate>> {
  const { keys } = (await (await fetch(env.jwksUri)).json()) as { keys: Array<Record<string, unknown>> };
  const key = createPublicKey({ key: keys[0] as never, format: 'jwk' });
  @Injectable()
  class LimitGuard implements CanActivate {
    canActivate(context: ExecutionContext): boolean {
      const req = context.switchToHttp().getRequest<{ headers: Record<string, string>; user?: unknown }>();
      const token = req.headers.authorization.slice(7);
      const dot1 = token.indexOf('.');
      const dot2 = token.lastIndexOf('.');
      if (!cryptoVerify('sha256', Buffer.from(token.slice(0, dot2)), key, Buffer.from(token.slice(dot2 + 1), 'base64url'))) {
        throw new UnauthorizedException();
      }
      req.user = JSON.parse(Buffer.from(token.slice(dot1 + 1, dot2), 'base64url').toString());
      return true;
    }
  }
  return LimitGuard;
}

@Injectable()
class UsualStrategy extends PassportStrategy(JwtStrategy, 'jwt') {
  constructor() {
    super({
      jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(),
      secretOrKeyProvider: passportJwtSecret({ jwksUri: env.jwksUri, cache: true, rateLimit: false }),
      algorithms: ['RS256'],
      issuer: env.issuer,
      audience: env.audience,
    });
  }
  validate(payload: unknown): unknown {
    return payload;
  }
}

async function main(): Promise<void> {
  const guards: Record<string, Array<Type<CanActivate>>> = {
    none: [],
    limit: [await limitGuard()],
    ours: [JwksAuthGuard],
    usual: [AuthGuard('jwt')],
  };
  @Controller()
  @UseGuards(...guards[mode])
  class BenchController {
    @Get('r')
    r(): { ok: true } {
      return { ok: true };
    }
  }
  const imports = mode === 'ours' ? [JwksAuthModule.forRoot({ ...env, algorithms: ['RS256'] })] : mode === 'usual' ? [PassportModule] : [];
  @Module({ imports, controllers: [BenchController], providers: mode === 'usual' ? [UsualStrategy] : [] })
  class BenchModule {}
  const app = await NestFactory.create(BenchModule, { logger: false });
  await app.listen(0, '127.0.0.1');
  process.send?.({ port: (app.getHttpServer().address() as { port: number }).port });
  // A clean exit on request, so `--cpu-prof` can write its profile.
  process.on('message', (m) => m === 'exit' && process.exit(0));
}

void main();
