import { Controller, Get, Injectable, SetMetadata, UseGuards, type CanActivate, type ExecutionContext, type INestApplication } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import request from 'supertest';
import { JWKS_PUBLIC_KEY, JwksAuthGuard, JwksAuthModule, Public } from '../../lib';
import { TestIssuer } from '../../lib/testing';
import { bootApp, issuerOptions, HTTP_PLATFORMS } from '../fixtures/app';

/** The `@Public()` of the NestJS authentication docs, as apps copy it. */
const DocsPublic = () => SetMetadata('isPublic', true);

/** An app's own guard that honours our `@Public()` through the exported key. */
@Injectable()
class AppApiKeyGuard implements CanActivate {
  constructor(private readonly reflector: Reflector) {}
  canActivate(context: ExecutionContext): boolean {
    if (this.reflector.getAllAndOverride<boolean>(JWKS_PUBLIC_KEY, [context.getHandler(), context.getClass()])) return true;
    return context.switchToHttp().getRequest<{ headers: Record<string, string> }>().headers['x-api-key'] === 'k';
  }
}

@Controller('docs')
@UseGuards(JwksAuthGuard)
class DocsStyleController {
  @DocsPublic()
  @Get('open')
  open(): string {
    return 'open';
  }

  @Get('closed')
  closed(): string {
    return 'closed';
  }
}

@Controller('docs-class')
@DocsPublic()
@UseGuards(JwksAuthGuard)
class DocsPublicClassController {
  @Get()
  open(): string {
    return 'open';
  }
}

@Controller('app-guard')
@UseGuards(AppApiKeyGuard)
class AppGuardController {
  @Public()
  @Get('open')
  open(): string {
    return 'open';
  }

  @Get('closed')
  closed(): string {
    return 'closed';
  }
}

describe.each(HTTP_PLATFORMS)('@Public() interoperates with the NestJS docs recipe and with apps\' own guards (%s)', (platform) => {
  let issuer: TestIssuer;
  let app: INestApplication;
  beforeAll(async () => {
    issuer = await TestIssuer.start();
    app = await bootApp({
      imports: [JwksAuthModule.forRoot(issuerOptions(issuer))],
      controllers: [DocsStyleController, DocsPublicClassController, AppGuardController],
    }, { platform });
  });
  afterAll(async () => {
    await app.close();
    await issuer.close();
  });

  it("JwksAuthGuard lets through a handler marked with the docs' @Public() ('isPublic' metadata)", async () => {
    await request(app.getHttpServer()).get('/docs/open').expect(200, 'open');
    await request(app.getHttpServer()).get('/docs/closed').expect(401);
    await request(app.getHttpServer()).get('/docs/closed').set('Authorization', `Bearer ${issuer.sign()}`).expect(200, 'closed');
  });

  it("JwksAuthGuard lets through a controller marked with the docs' @Public()", async () => {
    await request(app.getHttpServer()).get('/docs-class').expect(200, 'open');
  });

  it('an app guard reading the exported JWKS_PUBLIC_KEY honours our @Public()', async () => {
    expect(JWKS_PUBLIC_KEY).toBe('jwks-auth:isPublic');
    await request(app.getHttpServer()).get('/app-guard/open').expect(200, 'open');
    await request(app.getHttpServer()).get('/app-guard/closed').expect(403);
    await request(app.getHttpServer()).get('/app-guard/closed').set('x-api-key', 'k').expect(200);
  });
});
