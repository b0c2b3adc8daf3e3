import { jest } from '@jest/globals';

// The app's tree has no prom-client: importing it fails as Node does for a package that is not installed.
jest.unstable_mockModule('prom-client', () => {
  throw Object.assign(new Error("Cannot find package 'prom-client'"), { code: 'ERR_MODULE_NOT_FOUND' });
});

describe('metrics enabled without prom-client installed', () => {
  it('stops startup with JwksMissingDependencyError and the install hint', async () => {
    const { JwksAuthModule, JwksMissingDependencyError } = await import('../../lib');
    const { TestIssuer } = await import('../../lib/testing');
    const { bootApp, issuerOptions } = await import('../fixtures/app');
    const issuer = await TestIssuer.start();
    try {
      const started = bootApp({ imports: [JwksAuthModule.forRoot(issuerOptions(issuer, { metrics: true }))] });
      await expect(started).rejects.toBeInstanceOf(JwksMissingDependencyError);
      await expect(started).rejects.toThrow('The metrics option needs the optional package "prom-client": npm install prom-client');
      // Without the option the same app starts: prom-client is never imported.
      const app = await bootApp({ imports: [JwksAuthModule.forRoot(issuerOptions(issuer))] });
      await app.close();
    } finally {
      await issuer.close();
    }
  });
});
