import { ConfigurableModuleBuilder, type ConfigurableModuleAsyncOptions } from '@nestjs/common';
import type { JwksAuthModuleOptions } from './interfaces/jwks-auth-options.interface.js';
import type { JwksAdminOptions } from './admin/admin.options.js';
import { resolveAdminOptions } from './admin/admin.options.js';
import { createAdminController } from './admin/admin.controller.js';

export const {
  ConfigurableModuleClass: ConfigurableJwksAuthModule,
  MODULE_OPTIONS_TOKEN: JWKS_AUTH_MODULE_OPTIONS,
  OPTIONS_TYPE: JWKS_AUTH_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: JWKS_AUTH_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<JwksAuthModuleOptions>({ moduleName: 'JwksAuth' })
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createJwksAuthOptions')
  // Without the transform, `isGlobal` would be accepted and silently ignored. `admin` is an extra
  // too (kept out of the options the factory sees): its routes must exist when the module is
  // built, before any `useFactory` runs, and an `admin` without a guard stops startup here.
  .setExtras({ isGlobal: false, admin: undefined as JwksAdminOptions | undefined }, (definition, extras) => {
    const admin = resolveAdminOptions(extras.admin);
    return { ...definition, global: extras.isGlobal, ...(admin ? { controllers: [...(definition.controllers ?? []), createAdminController(admin)] } : {}) };
  })
  .build();

// The builder's OPTIONS_TYPE / ASYNC_OPTIONS_TYPE written out as named types, so the public
// `forRoot` signatures name types a user can import (the builder's are `typeof` a value). The
// module passes these to `super.forRoot`, so they cannot drift wider than the builder's.

/** `JwksAuthModule.forRoot()`'s argument: the module options plus `isGlobal` and `admin`. */
export type JwksAuthModuleForRootOptions = JwksAuthModuleOptions & { isGlobal?: boolean; admin?: JwksAdminOptions };

/** `JwksAuthModule.forRootAsync()`'s argument: `useFactory` (with `inject`, `imports`), `useClass` or `useExisting`, plus `isGlobal` and `admin` (static: not from the factory). */
export type JwksAuthModuleAsyncOptions = ConfigurableModuleAsyncOptions<JwksAuthModuleOptions, 'createJwksAuthOptions'> & { isGlobal?: boolean; admin?: JwksAdminOptions };
