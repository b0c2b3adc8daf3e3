import { createParamDecorator, type ExecutionContext, type PipeTransform, type Type } from '@nestjs/common';
import { requestOf } from '../transports/transport.registry.js';

/**
 * The verified claims of the current request (`request.user`), or one claim by name:
 * `@CurrentUser() claims`, `@CurrentUser('sub') userId`. On GraphQL resolvers too (the context's `req`).
 *
 * The type is written out: the one inferred from `createParamDecorator` names
 * `ParameterDecoratorOptions`, which exists only in NestJS 12, so a NestJS 11 app could not
 * compile the shipped declarations.
 */
export const CurrentUser: (...dataOrPipes: (string | undefined | PipeTransform | Type<PipeTransform>)[]) => ParameterDecorator = createParamDecorator((claim: string | undefined, ctx: ExecutionContext) => {
  const user = requestOf<{ user?: Record<string, unknown> } | undefined>(ctx)?.user;
  if (claim === undefined) return user;
  return user !== undefined && Object.prototype.hasOwnProperty.call(user, claim) ? user[claim] : undefined;
});
