export { TestIssuer, type TestIssuerFault, type TestIssuerOptions, type TestKeyAlgorithm, type SignOptions } from './test-issuer.js';
export { FakeClock, flushPromises, waitFor } from './fake-clock.js';
