import { ConfigurableModuleBuilder, type ConfigurableModuleAsyncOptions } from '@nestjs/common';
import type { JwksAuthModuleOptions } from './interfaces/jwks-auth-options.interface.js';

export const {
  ConfigurableModuleClass: ConfigurableJwksAuthModule,
  MODULE_OPTIONS_TOKEN: JWKS_AUTH_MODULE_OPTIONS,
  OPTIONS_TYPE: JWKS_AUTH_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: JWKS_AUTH_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<JwksAuthModuleOptions>({ moduleName: 'JwksAuth' })
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createJwksAuthOptions')
  // Without the transform, `isGlobal` would be accepted and silently ignored.
  .setExtras({ isGlobal: false }, (definition, extras) => ({ ...definition, global: extras.isGlobal }))
  .build();

// The builder's OPTIONS_TYPE / ASYNC_OPTIONS_TYPE written out as named types, so the public
// `forRoot` signatures name types a user can import (the builder's are `typeof` a value). The
// module passes these to `super.forRoot`, so they cannot drift wider than the builder's.

/** `JwksAuthModule.forRoot()`'s argument: the module options plus `isGlobal`. */
export type JwksAuthModuleForRootOptions = JwksAuthModuleOptions & { isGlobal?: boolean };

/** `JwksAuthModule.forRootAsync()`'s argument: `useFactory` (with `inject`, `imports`), `useClass` or `useExisting`, plus `isGlobal`. */
export type JwksAuthModuleAsyncOptions = ConfigurableModuleAsyncOptions<JwksAuthModuleOptions, 'createJwksAuthOptions'> & { isGlobal?: boolean };
