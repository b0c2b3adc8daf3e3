import { SetMetadata } from '@nestjs/common';
import { IS_PUBLIC_KEY } from '../jwks-auth.constants.js';

/**
 * Marks a handler or controller as reachable without a token (like `@SkipThrottle()`).
 * `JwksAuthGuard` also honours the `@Public()` of the NestJS docs (`SetMetadata('isPublic', true)`).
 */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(IS_PUBLIC_KEY, true);

/**
 * The metadata key `@Public()` sets (to `true`), for an app's own guards to honour it:
 * `reflector.getAllAndOverride<boolean>(JWKS_PUBLIC_KEY, [context.getHandler(), context.getClass()])`.
 */
export const JWKS_PUBLIC_KEY: string = IS_PUBLIC_KEY;
