export { TestIssuer, type TestIssuerFault, type TestIssuerOptions, type TestKeyAlgorithm, type SignOptions, type TestIssuerClient, type TestTokenRequest } from './test-issuer.js';
export { FakeClock, flushPromises, seededRandom, waitFor, type FakeClockOptions } from './fake-clock.js';
