import { ConfigurableModuleBuilder, type ConfigurableModuleAsyncOptions } from '@nestjs/common';
import type { ClientCredentialsOptions } from './client-credentials.options.js';

export const {
  ConfigurableModuleClass: ConfigurableClientCredentialsModule,
  MODULE_OPTIONS_TOKEN: CLIENT_CREDENTIALS_MODULE_OPTIONS,
} = new ConfigurableModuleBuilder<ClientCredentialsOptions>({ moduleName: 'ClientCredentials' })
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createClientCredentialsOptions')
  // Without the transform, `isGlobal` would be accepted and silently ignored.
  .setExtras({ isGlobal: false }, (definition, extras) => ({ ...definition, global: extras.isGlobal }))
  .build();

/** `ClientCredentialsModule.forRoot()`'s argument: the options plus `isGlobal`. */
export type ClientCredentialsForRootOptions = ClientCredentialsOptions & { isGlobal?: boolean };

/** `ClientCredentialsModule.forRootAsync()`'s argument: `useFactory` (with `inject`, `imports`), `useClass` or `useExisting`, plus `isGlobal`. */
export type ClientCredentialsAsyncOptions = ConfigurableModuleAsyncOptions<ClientCredentialsOptions, 'createClientCredentialsOptions'> & { isGlobal?: boolean };
