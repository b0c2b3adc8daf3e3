import { SetMetadata } from '@nestjs/common';
import { IS_PUBLIC_KEY } from '../jwks-auth.constants.js';

/** Marks a handler or controller as reachable without a token (like `@SkipThrottle()`). */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(IS_PUBLIC_KEY, true);
