import { TestIssuer } from 'nestjs-jwks-auth/testing';

const ADMIN_KID = 'dev-admin-key';

/**
 * With no issuer configured, the sample runs against an embedded issuer on 127.0.0.1: a real
 * JWKS endpoint and a token signer, so the whole flow works offline without an account.
 */
export async function startDevIssuer(): Promise<TestIssuer> {
  const issuer = await TestIssuer.start({ audience: 'https://sample-api' });
  // A second published key signs the admin token, so revoking the users' key (one of the printed
  // commands) leaves the admin able to restore it.
  issuer.addKey({ kid: ADMIN_KID });
  process.env.JWKS_ISSUER = issuer.issuer;
  // No JWKS_URI: the module reads the dev issuer's discovery document, as it would a real IdP's.
  process.env.JWKS_AUDIENCE = issuer.audience;
  return issuer;
}

export function printTryIt(issuer: TestIssuer, baseUrl: string): void {
  const user = issuer.sign({ sub: 'alice', scope: 'read:profile' }, { expiresInSec: 3600 });
  const admin = issuer.sign({ sub: 'ops', scope: 'jwks:admin' }, { kid: ADMIN_KID, expiresInSec: 3600 });
  const expired = issuer.sign({ sub: 'alice', exp: Math.floor(Date.now() / 1000) - 60 });
  const lines = [
    '',
    `Embedded dev issuer: ${issuer.issuer} (JWKS ${issuer.jwksUri})`,
    'Set JWKS_ISSUER and JWKS_AUDIENCE to use a real IdP (JWKS_URI only if it publishes no OIDC discovery document).',
    '',
    'Try it (tokens valid for 1 hour):',
    `  curl -i ${baseUrl}/profile -H "Authorization: Bearer ${user}"`,
    `  curl -i ${baseUrl}/profile                       # 401: no token`,
    `  curl -i ${baseUrl}/profile -H "Authorization: Bearer ${expired}"   # 401: expired`,
    `  curl -i ${baseUrl}/health`,
    `  curl -i ${baseUrl}/admin/jwks -H "Authorization: Bearer ${admin}"            # the key set's state`,
    `  curl -i -X POST ${baseUrl}/admin/jwks/refresh -H "Authorization: Bearer ${admin}"`,
    `  curl -i -X POST ${baseUrl}/admin/jwks/revoke/${issuer.kid} -H "Authorization: Bearer ${admin}"   # then /profile answers 401`,
    `  curl -i -X POST ${baseUrl}/admin/jwks/restore/${issuer.kid} -H "Authorization: Bearer ${admin}"`,
    '',
  ];
  console.log(lines.join('\n'));
}
