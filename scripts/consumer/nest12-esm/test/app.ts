import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TestIssuer } from 'nestjs-jwks-auth/testing';
import { AppModule } from '../src/app.module.js';

/** The app as `main.ts` builds it, configured (through the environment) for a local TestIssuer. */
export async function startApp(): Promise<{ app: INestApplication; issuer: TestIssuer }> {
  const issuer = await TestIssuer.start();
  process.env.JWKS_ISSUER = issuer.issuer;
  process.env.JWKS_URI = issuer.jwksUri;
  process.env.JWKS_AUDIENCE = issuer.audience;
  const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
  const app = moduleRef.createNestApplication();
  await app.init();
  return { app, issuer };
}
