import { createParamDecorator, type ExecutionContext } from '@nestjs/common';

/**
 * The verified claims of the current request (`request.user`), or one claim by name:
 * `@CurrentUser() claims`, `@CurrentUser('sub') userId`.
 */
export const CurrentUser = createParamDecorator((claim: string | undefined, ctx: ExecutionContext) => {
  const user = ctx.switchToHttp().getRequest<{ user?: Record<string, unknown> }>().user;
  if (claim === undefined) return user;
  return user !== undefined && Object.prototype.hasOwnProperty.call(user, claim) ? user[claim] : undefined;
});
