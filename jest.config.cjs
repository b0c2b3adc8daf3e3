/**
 * Jest runs in native ESM mode (NODE_OPTIONS=--experimental-vm-modules, ts-jest useESM):
 * NestJS 12 ships ESM only and cannot be loaded by Jest's CommonJS runtime, while NestJS 11
 * (CommonJS) loads fine from ESM. One mode therefore tests both majors. See README "Development".
 */
module.exports = {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  roots: ['<rootDir>/lib', '<rootDir>/test'],
  testMatch: ['**/*.spec.ts', '**/*.e2e-spec.ts'],
  moduleNameMapper: {
    // lib/ imports carry Node ESM's `.js` extensions (the published ESM build needs them);
    // the sources are `.ts`, so strip the extension for relative imports.
    '^(\\.{1,2}/.*)\\.js$': '$1',
    '^nestjs-jwks-auth$': '<rootDir>/lib/index.ts',
    '^nestjs-jwks-auth/testing$': '<rootDir>/lib/testing/index.ts',
  },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: '<rootDir>/tsconfig.spec.json' }],
  },
  setupFiles: ['<rootDir>/test/setup-logger.ts'],
  testTimeout: 20000,
};
