export { TestIssuer, type TestIssuerFault, type TestIssuerOptions, type TestKeyAlgorithm, type SignOptions } from './test-issuer.js';
export { FakeClock, flushPromises, seededRandom, waitFor, type FakeClockOptions } from './fake-clock.js';
