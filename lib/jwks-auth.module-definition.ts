import { ConfigurableModuleBuilder } from '@nestjs/common';
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
