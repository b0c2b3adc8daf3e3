/**
 * Jest on an ES-module NestJS 12 app: Nest 12 ships ESM only, so Jest runs in its ESM mode
 * (`node --experimental-vm-modules`) with ts-jest's ESM transform. Relative imports carry `.js`
 * (Node's ESM resolver needs them); the mapper points them at the `.ts` sources.
 * @type {import('jest').Config}
 */
export default {
  testEnvironment: 'node',
  testRegex: 'test/jest/.*\\.e2e-spec\\.ts$',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true }] },
};
