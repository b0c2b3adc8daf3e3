import { Injectable, Module, type INestApplication } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import request from 'supertest';
import { JwksAuthModule, type JwksAuthModuleOptions } from '../../lib';
import { TestIssuer } from '../../lib/testing';
import { bootApp } from '../fixtures/app';

describe('JwksAuthModule.forRootAsync', () => {
  let issuer: TestIssuer;
  beforeAll(async () => {
    issuer = await TestIssuer.start();
  });
  afterAll(async () => {
    await issuer.close();
  });

  async function expectWorking(app: INestApplication): Promise<void> {
    const http = request(app.getHttpServer());
    await http.get('/me').set('Authorization', `Bearer ${issuer.sign({ sub: 'async' })}`).expect(200);
    await http.get('/me').expect(401);
    await app.close();
  }

  it('useFactory with inject (ConfigService)', async () => {
    const app = await bootApp({
      imports: [
        JwksAuthModule.forRootAsync({
          imports: [ConfigModule.forRoot({ ignoreEnvFile: true, load: [() => ({ JWKS_ISSUER: issuer.issuer, JWKS_URI: issuer.jwksUri, JWKS_AUDIENCE: issuer.audience })] })],
          inject: [ConfigService],
          useFactory: (config: ConfigService) => ({
            issuer: config.getOrThrow<string>('JWKS_ISSUER'),
            jwksUri: config.getOrThrow<string>('JWKS_URI'),
            audience: config.getOrThrow<string>('JWKS_AUDIENCE'),
          }),
        }),
      ],
    });
    await expectWorking(app);
  });

  it('useClass', async () => {
    @Injectable()
    class JwksConfig {
      createJwksAuthOptions(): JwksAuthModuleOptions {
        return { issuer: issuer.issuer, jwksUri: issuer.jwksUri, audience: [issuer.audience, 'other'] };
      }
    }
    const app = await bootApp({ imports: [JwksAuthModule.forRootAsync({ useClass: JwksConfig })] });
    await expectWorking(app);
  });

  it('useExisting', async () => {
    @Injectable()
    class ExistingConfig {
      createJwksAuthOptions(): JwksAuthModuleOptions {
        return { issuer: issuer.issuer, jwksUri: issuer.jwksUri, audience: issuer.audience };
      }
    }
    @Module({ providers: [ExistingConfig], exports: [ExistingConfig] })
    class ConfigHolder {}
    const app = await bootApp({ imports: [JwksAuthModule.forRootAsync({ imports: [ConfigHolder], useExisting: ExistingConfig })] });
    await expectWorking(app);
  });
});
