/** `npm run test:conformance`: the Wycheproof vectors (see test/conformance). Same ESM setup as jest.config.cjs. */
const base = require('./jest.config.cjs');

module.exports = {
  ...base,
  roots: ['<rootDir>/test/conformance'],
  testMatch: ['**/*.conformance-spec.ts'],
};
