import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module';
import { printTryIt, startDevIssuer } from './dev-issuer';

async function bootstrap(): Promise<void> {
  const devIssuer = process.env.JWKS_ISSUER ? undefined : await startDevIssuer();
  const app = await NestFactory.create(AppModule);
  app.enableShutdownHooks();
  const port = Number(process.env.PORT ?? 3000);
  await app.listen(port, process.env.HOST ?? '127.0.0.1');
  const url = (await app.getUrl()).replace('[::1]', 'localhost');
  console.log(`Sample API listening on ${url}`);
  if (devIssuer) {
    printTryIt(devIssuer, url);
    app.getHttpServer().on('close', () => void devIssuer.close());
  }
}

void bootstrap();
