export { TestIssuer, type TestIssuerFault, type TestIssuerOptions, type TestKeyAlgorithm, type SignOptions } from './test-issuer';
export { FakeClock, flushPromises } from './fake-clock';
