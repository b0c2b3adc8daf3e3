import 'reflect-metadata';
import { Module, UseGuards, type CanActivate, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { GraphQLModule, Query, Resolver } from '@nestjs/graphql';
import { JwksAuthGuard, JwksAuthModule } from '../lib';
import { limitGuard } from './limit.guard';

/**
 * One GraphQL server for the HTTP benchmark, in its own process (forked by run.ts): Nest 12,
 * Apollo on Express (@nestjs/apollo, code-first), the query `{ ping }` answered by one resolver.
 *   none  – the resolver unguarded
 *   limit – the HTTP benchmark's limit guard (crypto.verify + JSON.parse), reading the request from the GraphQL context
 *   ours  – @UseGuards(JwksAuthGuard)
 * Every server gets the same request (the bearer token included) and answers the same body.
 * Reports its port to the parent over IPC.
 */
const mode = process.argv[2];
const env = { issuer: process.env.ISSUER!, jwksUri: process.env.JWKS_URI!, audience: process.env.AUDIENCE! };

async function main(): Promise<void> {
  const guards: Record<string, Array<Type<CanActivate>>> = {
    none: [],
    // Resolver arguments are (root, args, context, info); Nest's Apollo context is `{ req }`.
    limit: [await limitGuard(env.jwksUri, (context) => context.getArgByIndex<{ req: never }>(2).req)],
    ours: [JwksAuthGuard],
  };
  @Resolver()
  @UseGuards(...guards[mode])
  class BenchResolver {
    @Query(() => String)
    ping(): string {
      return 'pong';
    }
  }
  const imports = [
    // Apollo's own SIGTERM handler drains before exiting, and could keep a server alive into the next one's measurement.
    GraphQLModule.forRoot<ApolloDriverConfig>({ driver: ApolloDriver, autoSchemaFile: true, playground: false, stopOnTerminationSignals: false }),
    ...(mode === 'ours' ? [JwksAuthModule.forRoot({ ...env, algorithms: ['RS256'] })] : []),
  ];
  @Module({ imports, providers: [BenchResolver] })
  class BenchModule {}
  const app = await NestFactory.create(BenchModule, { logger: false });
  await app.listen(0, '127.0.0.1');
  process.send?.({ port: (app.getHttpServer().address() as { port: number }).port });
  process.on('message', (m) => (m === 'exit' ? process.exit(0) : m === 'cpu' && process.send?.({ cpu: process.cpuUsage() })));
}

void main();
