import { JwksFetchError } from '../../lib';
import { discoveryDocumentUris } from '../../lib/fetch/discovery.fetcher';

/** Where the discovery documents of an issuer live: OpenID Connect Discovery 1.0 §4, RFC 8414 §3. */
describe('discoveryDocumentUris', () => {
  it.each<[string, string, string]>([
    ['https://tenant.eu.auth0.com/', 'https://tenant.eu.auth0.com/.well-known/openid-configuration', 'https://tenant.eu.auth0.com/.well-known/oauth-authorization-server'],
    ['https://tenant.eu.auth0.com', 'https://tenant.eu.auth0.com/.well-known/openid-configuration', 'https://tenant.eu.auth0.com/.well-known/oauth-authorization-server'],
    ['https://kc.example.com/realms/a', 'https://kc.example.com/realms/a/.well-known/openid-configuration', 'https://kc.example.com/.well-known/oauth-authorization-server/realms/a'],
    ['https://kc.example.com/realms/a/', 'https://kc.example.com/realms/a/.well-known/openid-configuration', 'https://kc.example.com/.well-known/oauth-authorization-server/realms/a'],
    [
      'https://login.microsoftonline.com/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0/v2.0',
      'https://login.microsoftonline.com/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0/v2.0/.well-known/openid-configuration',
      'https://login.microsoftonline.com/.well-known/oauth-authorization-server/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0/v2.0',
    ],
    ['http://127.0.0.1:8080/realms/a', 'http://127.0.0.1:8080/realms/a/.well-known/openid-configuration', 'http://127.0.0.1:8080/.well-known/oauth-authorization-server/realms/a'],
  ])('%s → OIDC first, then RFC 8414', (issuer, oidc, rfc8414) => {
    expect(discoveryDocumentUris(issuer)).toEqual([oidc, rfc8414]);
  });

  it('keeps the port and lower-cases the host, as the request would anyway', () => {
    expect(discoveryDocumentUris('https://IdP.Example.com:8443/o/t')).toEqual([
      'https://idp.example.com:8443/o/t/.well-known/openid-configuration',
      'https://idp.example.com:8443/.well-known/oauth-authorization-server/o/t',
    ]);
  });

  it.each<[string, RegExp]>([
    ['not a url', /issuer "[^"]*" is not a URL/],
    ['tenant-a', /issuer "[^"]*" is not a URL/],
    ['https://idp.example.com/?tenant=a', /query or fragment/],
    ['https://idp.example.com/a#frag', /query or fragment/],
    ['https://user:pw@idp.example.com/', /credentials/],
    ['http://idp.example.com/', /https:/],
    ['ftp://idp.example.com/', /https:/],
  ])('refuses an issuer discovery cannot start from: %s', (issuer, message) => {
    let err: unknown;
    try {
      discoveryDocumentUris(issuer);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(JwksFetchError);
    expect(err).toMatchObject({ kind: 'discovery' });
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).not.toContain('pw');
  });

  it('allows plain http on loopback hosts only (local development)', () => {
    for (const host of ['localhost', '127.0.0.1', '127.9.8.7:3000', '[::1]:8080']) {
      expect(discoveryDocumentUris(`http://${host}/`)[0]).toBe(`http://${host}/.well-known/openid-configuration`);
    }
  });
});
