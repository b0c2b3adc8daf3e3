import 'reflect-metadata';
import { Controller, Get, Injectable, Module, UseGuards, type CanActivate, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AuthGuard, PassportModule, PassportStrategy } from '@nestjs/passport';
import { ExtractJwt, Strategy as JwtStrategy } from 'passport-jwt';
import { passportJwtSecret } from 'jwks-rsa';
import { JwksAuthGuard, JwksAuthModule } from '../lib';
import { limitGuard } from './limit.guard';

/**
 * One HTTP server for the HTTP benchmark, in its own process (forked by run.ts):
 *   none  – the route unguarded
 *   limit – a guard that only runs crypto.verify on a cached KeyObject and JSON.parse of the payload
 *   ours  – JwksAuthGuard
 *   strategy – AuthGuard('jwks'): our JwksStrategy through @nestjs/passport, same module options as `ours`
 *   usual – AuthGuard('jwt') with passport-jwt + jwks-rsa passportJwtSecret (cache on)
 * Reports its port to the parent over IPC.
 */
const mode = process.argv[2];
const env = { issuer: process.env.ISSUER!, jwksUri: process.env.JWKS_URI!, audience: process.env.AUDIENCE! };

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
    limit: [await limitGuard(env.jwksUri, (context) => context.switchToHttp().getRequest())],
    ours: [JwksAuthGuard],
    strategy: [AuthGuard('jwks')],
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
  const imports = mode === 'ours' || mode === 'strategy' ? [JwksAuthModule.forRoot({ ...env, algorithms: ['RS256'] })] : mode === 'usual' ? [PassportModule] : [];
  @Module({ imports, controllers: [BenchController], providers: mode === 'usual' ? [UsualStrategy] : [] })
  class BenchModule {}
  const app = await NestFactory.create(BenchModule, { logger: false });
  await app.listen(0, '127.0.0.1');
  process.send?.({ port: (app.getHttpServer().address() as { port: number }).port });
  // A clean exit on request, so `--cpu-prof` can write its profile; on 'cpu', this process's CPU time so far.
  process.on('message', (m) => (m === 'exit' ? process.exit(0) : m === 'cpu' && process.send?.({ cpu: process.cpuUsage() })));
}

void main();
