import { createParamDecorator, type ExecutionContext, type PipeTransform, type Type } from '@nestjs/common';
import { requestUser } from '../guards/request-user.property.js';
import { requestOf } from '../transports/transport.registry.js';

/**
 * The current request's user, or one of its properties by name: `@CurrentUser() claims`,
 * `@CurrentUser('sub') userId`; on GraphQL resolvers too (the context's `req`). The user is the
 * verified claims, or what `mapUser` made of them; it is read where the guard wrote it
 * (`request.user`, or PassportModule's `property` / the `userProperty` option).
 *
 * The type is written out: the one inferred from `createParamDecorator` names
 * `ParameterDecoratorOptions`, which exists only in NestJS 12, so a NestJS 11 app could not
 * compile the shipped declarations.
 */
export const CurrentUser: (...dataOrPipes: (string | undefined | PipeTransform | Type<PipeTransform>)[]) => ParameterDecorator = createParamDecorator((claim: string | undefined, ctx: ExecutionContext) => {
  const user = requestUser(requestOf(ctx)) as Record<string, unknown> | undefined;
  if (claim === undefined) return user;
  return typeof user === 'object' && user !== null && Object.prototype.hasOwnProperty.call(user, claim) ? user[claim] : undefined;
});
