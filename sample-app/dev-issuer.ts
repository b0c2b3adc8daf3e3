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

/** A GraphQL query as curl sends it (POST, JSON body). */
const graphql = (query: string) => `-H "Content-Type: application/json" -d '${JSON.stringify({ query })}'`;

/**
 * The startup's "try it" block: three tokens as shell variables, then one curl per line, each
 * commented with what it answers (its status, or the GraphQL answer itself).
 */
export function tryItLines(issuer: TestIssuer, baseUrl: string): string[] {
  const user = issuer.sign({ sub: 'alice', scope: 'read:profile' }, { expiresInSec: 3600 });
  const admin = issuer.sign({ sub: 'ops', scope: 'jwks:admin', roles: ['admin'] }, { kid: ADMIN_KID, expiresInSec: 3600 });
  const expired = issuer.sign({ sub: 'alice', exp: Math.floor(Date.now() / 1000) - 60 });
  const bearer = (name: string) => `-H "Authorization: Bearer $${name}"`;
  const commands: Array<[string, string]> = [
    [`curl -i ${baseUrl}/profile ${bearer('TOKEN')}`, "200: alice's claims"],
    [`curl -i ${baseUrl}/profile`, '401: no token'],
    [`curl -i ${baseUrl}/profile ${bearer('EXPIRED_TOKEN')}`, '401: expired'],
    [`curl -i ${baseUrl}/health`, '200 while a usable key set is held'],
    [`curl -s ${baseUrl}/graphql ${bearer('TOKEN')} ${graphql('{ me { sub scopes } }')}`, '{"data":{"me":{"sub":"alice","scopes":["read:profile"]}}}'],
    [`curl -s ${baseUrl}/graphql ${bearer('TOKEN')} ${graphql('{ keySet { phase keyCount } }')}`, 'FORBIDDEN: keySet needs the admin role (a GraphQL error, HTTP 200)'],
    [`curl -i ${baseUrl}/admin/jwks ${bearer('ADMIN_TOKEN')}`, "200: the key set's state"],
    [`curl -i -X POST ${baseUrl}/admin/jwks/refresh ${bearer('ADMIN_TOKEN')}`, '200: fetched again'],
    [`curl -i -X POST ${baseUrl}/admin/jwks/revoke/${issuer.kid} ${bearer('ADMIN_TOKEN')}`, "200: then alice's /profile answers 401"],
    [`curl -i -X POST ${baseUrl}/admin/jwks/restore/${issuer.kid} ${bearer('ADMIN_TOKEN')}`, '200: and she is back'],
  ];
  // Comments aligned, except after the long GraphQL commands.
  const width = Math.max(...commands.map(([command]) => command.length).filter((length) => length <= 100));
  return [
    '',
    `Embedded dev issuer: ${issuer.issuer} (JWKS ${issuer.jwksUri})`,
    'Set JWKS_ISSUER and JWKS_AUDIENCE to use a real IdP (JWKS_URI only if it publishes no OIDC discovery document).',
    '',
    'Try it: paste the tokens (valid for 1 hour) into your shell, then any of the commands.',
    `  TOKEN=${user}   # alice: scope read:profile`,
    `  ADMIN_TOKEN=${admin}   # ops: scope jwks:admin, role admin`,
    `  EXPIRED_TOKEN=${expired}`,
    '',
    ...commands.map(([command, answer]) => `  ${command.padEnd(width)}   # ${answer}`),
    '',
  ];
}

export function printTryIt(issuer: TestIssuer, baseUrl: string): void {
  console.log(tryItLines(issuer, baseUrl).join('\n'));
}
