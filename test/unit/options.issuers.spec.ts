import { JWKS_DEFAULT_GRANT_CLAIMS, JwksOptionsError, type JwksAuthModuleOptions, type JwksIssuerOptions } from '../../lib';
import { resolveIssuerOptions, resolveJwksOptions } from '../../lib/options/options.validator';

/* `issuers[]`: several issuers with shared defaults, validated with messages that say which one is wrong. */

const A = { issuer: 'https://a.test/', jwksUri: 'https://a.test/jwks', audience: 'api-a' };
const B = { issuer: 'https://b.test/', jwksUri: 'https://b.test/jwks', audience: 'api-b' };
const C = { issuer: 'https://c.test/', jwksUri: 'https://c.test/jwks', audience: 'api-c' };

/** The problems listed by the options error, or a failure if the options were accepted. */
function problemsOf(input: unknown): string[] {
  try {
    resolveJwksOptions(input as JwksAuthModuleOptions);
  } catch (err) {
    expect(err).toBeInstanceOf(JwksOptionsError);
    return (err as JwksOptionsError).problems;
  }
  throw new Error('the options were accepted');
}

function issuerProblemsOf(input: unknown, module = resolveJwksOptions({ issuers: [A] })): string[] {
  try {
    resolveIssuerOptions(input as JwksIssuerOptions, module);
  } catch (err) {
    expect(err).toBeInstanceOf(JwksOptionsError);
    return (err as JwksOptionsError).problems;
  }
  throw new Error('the issuer options were accepted');
}

describe('issuers[]: messages name the issuer', () => {
  it.each([
    [{ ...C, audience: 42 }, 'issuers[2].audience is required: a non-empty string or array of non-empty strings, got 42'],
    [{ ...C, audience: undefined }, "issuers[2].audience is required (here or as the module's shared audience): a non-empty string or array of non-empty strings"],
    [{ ...C, issuer: '' }, 'issuers[2].issuer is required: the exact "iss" of your tokens, e.g. "https://tenant.auth0.com/", got ""'],
    [{ ...C, issuer: 'https://c.test/ ' }, 'issuers[2].issuer has leading or trailing whitespace, so no token\'s "iss" can ever equal it, got "https://c.test/ "'],
    [{ ...C, jwksUri: 'http://c.test/jwks' }, 'issuers[2].jwksUri must use https: (http: is allowed for localhost, 127.0.0.0/8 and [::1] only), got "http://c.test/jwks"'],
    [{ ...C, jwksUri: undefined, issuer: 'c-tenant' }, 'issuers[2].issuer (no jwksUri given, so it is used for OIDC discovery) is not a valid URL, got "c-tenant"'],
    [{ ...C, audienceClaim: 'sub' }, 'issuers[2].audienceClaim must be "aud" or "client_id", got "sub"'],
    [{ ...C, typ: '' }, 'issuers[2].typ must be a non-empty string such as "at+jwt", got ""'],
    [{ ...C, clockToleranceSec: 7_200 }, 'issuers[2].clockToleranceSec must be at most 3600 (seconds, not milliseconds; more would all but disable exp), got 7200'],
    [{ ...C, maxTokenAgeSec: -1 }, 'issuers[2].maxTokenAgeSec must be a positive finite number (seconds), got -1'],
    [{ ...C, requiredClaims: 'sub' }, 'issuers[2].requiredClaims must be an array of claim names, got "sub"'],
    [{ ...C, algorithms: [] }, 'issuers[2].algorithms must be a non-empty array of: RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA, got []'],
    [{ ...C, algorithms: ['HS256'] }, 'issuers[2].algorithms: algorithm "HS256" is refused: symmetric and unsigned tokens cannot be verified with a public key set'],
    [{ ...C, algorithms: ['RS1'] }, 'issuers[2].algorithms: algorithm "RS1" is not supported; use RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA'],
    [42, 'issuers[2] must be an object such as { issuer, audience }, got 42'],
    [[[C]], 'issuers[2] must be an object such as { issuer, audience }, got [{"issuer":"https://c.test/","jwksUri":"https://c.test/jw...'],
  ])('issuers[2] = %j', (third, message) => {
    expect(problemsOf({ issuers: [A, B, third] })).toEqual([message]);
  });

  it('reports every issuer’s problems at once, in order, before the shared ones', () => {
    expect(problemsOf({ issuers: [{ ...A, audience: [] }, B, { ...C, typ: 5 }], cache: { ttlMs: -1 } })).toEqual([
      'issuers[0].audience is required: a non-empty string or array of non-empty strings, got []',
      'issuers[2].typ must be a non-empty string such as "at+jwt", got 5',
      'cache.ttlMs must be a positive finite number (milliseconds), got -1',
    ]);
  });

  it('names a misspelt key of an issuer with its place and a suggestion', () => {
    const { jwksUri, ...noUri } = B;
    expect(problemsOf({ issuers: [{ ...A }, { ...noUri, jwksUrl: jwksUri }] })).toEqual(['unknown option "issuers[1].jwksUrl" (did you mean "issuers[1].jwksUri"?)']);
    expect(problemsOf({ issuers: [{ ...A, audiance: 'x', allowedJwksHost: ['x.test'] }] })).toEqual([
      'unknown option "issuers[0].audiance" (did you mean "issuers[0].audience"?)',
      'unknown option "issuers[0].allowedJwksHost" (did you mean "issuers[0].allowedJwksHosts"?)',
    ]);
    // Module-wide options are not per issuer.
    expect(problemsOf({ issuers: [{ ...A, cache: { ttlMs: 1_000 } }] })[0]).toMatch(/^unknown option "issuers\[0\]\.cache"/);
  });

  it('refuses an issuer configured twice', () => {
    expect(problemsOf({ issuers: [A, B, { ...A, audience: 'other' }] })).toEqual(['issuers[2].issuer "https://a.test/" is configured twice']);
  });

  it.each([
    [{ issuer: A.issuer, issuers: [B] }],
    [{ jwksUri: A.jwksUri, issuers: [B] }],
    [{ issuer: A.issuer, jwksUri: A.jwksUri, audience: 'api', issuers: [B] }],
  ])('refuses the flat issuer together with issuers: %j', (input) => {
    expect(problemsOf(input)).toContain('give either the flat issuer/jwksUri (one issuer) or issuers (several), not both');
  });

  it('refuses issuers that is not an array', () => {
    expect(problemsOf({ issuers: { 0: A } })).toEqual(['issuers must be an array of { issuer, audience, jwksUri? }, got {"0":{"issuer":"https://a.test/","jwksUri":"https://a.tes...']);
  });

  it('refuses more issuers than maxIssuers, counted after flattening', () => {
    expect(problemsOf({ issuers: [A, B, C], maxIssuers: 2 })).toEqual(['issuers holds 3 issuers, more than maxIssuers (2)']);
    expect(problemsOf({ issuers: [[A, B], [C]], maxIssuers: 2 })).toEqual(['issuers holds 3 issuers, more than maxIssuers (2)']);
    const many = Array.from({ length: 101 }, (_, i) => ({ issuer: `https://t${i}.test/`, jwksUri: `https://t${i}.test/jwks`, audience: 'api' }));
    expect(problemsOf({ issuers: many })).toEqual(['issuers holds 101 issuers, more than maxIssuers (100)']);
    expect(resolveJwksOptions({ issuers: many.slice(0, 100) }).issuers).toHaveLength(100);
    expect(problemsOf({ issuers: [A], maxIssuers: 0 })).toEqual(['maxIssuers must be a positive integer, got 0']);
    expect(problemsOf({ issuers: [A], maxIssuers: 1.5 })).toEqual(['maxIssuers must be a positive integer, got 1.5']);
  });
});

describe('issuers[]: presets and shared defaults', () => {
  it('flattens the arrays a preset returns, one level, and indexes messages in the flattened list', () => {
    expect(resolveJwksOptions({ issuers: [[A, B], C] }).issuers.map((i) => i.issuer)).toEqual([A.issuer, B.issuer, C.issuer]);
    expect(problemsOf({ issuers: [[A, { ...B, audience: '' }], C] })).toEqual(['issuers[1].audience is required: a non-empty string or array of non-empty strings, got ""']);
  });

  it('gives each issuer the shared defaults it does not set, and its own where it does', () => {
    const o = resolveJwksOptions({
      audience: 'shared-api',
      algorithms: ['ES256'],
      clockToleranceSec: 5,
      maxTokenAgeSec: 600,
      requiredClaims: ['sub'],
      typ: 'at+jwt',
      issuers: [
        { issuer: A.issuer, jwksUri: A.jwksUri },
        {
          issuer: B.issuer,
          jwksUri: B.jwksUri,
          audience: ['b1', 'b2'],
          audienceClaim: 'client_id',
          requiredClaimValues: { token_use: 'access' },
          algorithms: ['RS256', 'PS256'],
          clockToleranceSec: 0,
          maxTokenAgeSec: 60,
          requiredClaims: [],
          typ: 'JWT',
          allowedJwksHosts: ['cdn.b.test'],
        },
      ],
    });
    const [a, b] = o.issuers;
    expect(a).toEqual({
      issuer: A.issuer,
      jwksUri: A.jwksUri,
      audience: ['shared-api'],
      audienceClaim: 'aud',
      requiredClaimValues: {},
      algorithms: ['ES256'],
      clockToleranceSec: 5,
      maxTokenAgeSec: 600,
      requiredClaims: ['sub'],
      typ: 'at+jwt',
      allowedJwksHosts: [],
      grantClaims: JWKS_DEFAULT_GRANT_CLAIMS,
    });
    expect(b).toEqual({
      issuer: B.issuer,
      jwksUri: B.jwksUri,
      audience: ['b1', 'b2'],
      audienceClaim: 'client_id',
      requiredClaimValues: { token_use: 'access' },
      algorithms: ['RS256', 'PS256'],
      clockToleranceSec: 0,
      maxTokenAgeSec: 60,
      requiredClaims: [],
      typ: 'JWT',
      allowedJwksHosts: ['cdn.b.test'],
      grantClaims: JWKS_DEFAULT_GRANT_CLAIMS,
    });
    // The module keeps the shared values as the defaults of issuers added later.
    expect(o).toMatchObject({ audience: ['shared-api'], algorithms: ['ES256'], clockToleranceSec: 5, maxTokenAgeSec: 600, requiredClaims: ['sub'], typ: 'at+jwt' });
    expect(Object.isFrozen(a) && Object.isFrozen(b.requiredClaimValues) && Object.isFrozen(b.allowedJwksHosts) && Object.isFrozen(o.issuers)).toBe(true);
  });

  it('does not need a shared audience when every issuer has its own', () => {
    const o = resolveJwksOptions({ issuers: [A, B] });
    expect(o.audience).toEqual([]);
    expect(o.issuers.map((i) => i.audience)).toEqual([['api-a'], ['api-b']]);
    expect(problemsOf({ issuers: [A, B], audience: [] })).toEqual(['audience is required: a non-empty string or array of non-empty strings, got []']);
  });
});

describe('issuers[]: allowedJwksHosts', () => {
  it('accepts host names, with a port, IPv6 literals; lower-cased', () => {
    const o = resolveJwksOptions({ issuers: [{ ...A, allowedJwksHosts: ['Keys.IDP.test', 'cdn.idp.test:8443', '[::1]:8443', '127.0.0.1'] }] });
    expect(o.issuers[0].allowedJwksHosts).toEqual(['keys.idp.test', 'cdn.idp.test:8443', '[::1]:8443', '127.0.0.1']);
  });

  const holey: string[] = [];
  holey[1] = 'keys.test';
  it.each([
    [['https://keys.test'], '["https://keys.test"]'],
    [['keys.test/jwks'], '["keys.test/jwks"]'],
    [['user@keys.test'], '["user@keys.test"]'],
    [['keys.test:'], '["keys.test:"]'],
    [[''], '[""]'],
    [['*.keys.test'], '["*.keys.test"]'],
    [[42], '[42]'],
    ['keys.test', '"keys.test"'],
    [holey, '[null,"keys.test"]'],
    [['keys.test:70000'], '["keys.test:70000"]'],
  ])('refuses %j, naming the entry that is wrong', (hosts, shown) => {
    const problems = problemsOf({ issuers: [{ ...A, allowedJwksHosts: hosts }] });
    if (!Array.isArray(hosts)) {
      expect(problems).toEqual([`issuers[0].allowedJwksHosts must be an array of host names (with :port unless it is the scheme's default), got ${shown}`]);
      return;
    }
    expect(problems).toEqual([expect.stringMatching(/^issuers\[0\]\.allowedJwksHosts\[0\] must be a host name such as "keys\.example\.com" or "127\.0\.0\.1:8443" \(no scheme, path or wildcard\), got /)]);
  });
});

describe('issuers[]: requiredClaimValues', () => {
  it('keeps claim names to string values, own properties only', () => {
    const o = resolveJwksOptions({ issuers: [{ ...A, requiredClaimValues: { token_use: 'access', constructor: 'x' } }] });
    const values = o.issuers[0].requiredClaimValues;
    expect(values).toEqual({ token_use: 'access', constructor: 'x' });
    expect(Object.getPrototypeOf(values)).toBe(Object.prototype);
  });

  it.each([
    [{ token_use: 5 }, 'issuers[0].requiredClaimValues.token_use must be a string, got 5'],
    [{ token_use: ['access'] }, 'issuers[0].requiredClaimValues.token_use must be a string, got ["access"]'],
    [['token_use'], 'issuers[0].requiredClaimValues must be an object of claim names to string values, got ["token_use"]'],
    ['access', 'issuers[0].requiredClaimValues must be an object of claim names to string values, got "access"'],
    [{ '': 'x' }, 'issuers[0].requiredClaimValues: "" cannot be a required claim name'],
  ])('refuses %j', (values, message) => {
    expect(problemsOf({ issuers: [{ ...A, requiredClaimValues: values }] })).toEqual([message]);
  });

  it('refuses "__proto__" as a claim name, polluting nothing', () => {
    // JSON.parse makes "__proto__" an own key, as options read from a file would have it.
    const values = JSON.parse('{"__proto__": {"polluted": "yes"}, "token_use": "access"}') as Record<string, string>;
    expect(problemsOf({ issuers: [{ ...A, requiredClaimValues: values }] })).toEqual(['issuers[0].requiredClaimValues: "__proto__" cannot be a required claim name']);
    const asString = JSON.parse('{"__proto__": "x"}') as Record<string, string>;
    expect(problemsOf({ issuers: [{ ...A, requiredClaimValues: asString }] })).toEqual(['issuers[0].requiredClaimValues: "__proto__" cannot be a required claim name']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
  });
});

describe('resolveIssuerOptions (addIssuer)', () => {
  const module = resolveJwksOptions({ audience: 'shared', algorithms: ['ES256'], typ: 'at+jwt', clockToleranceSec: 10, issuers: [A] });

  it('takes the module’s shared options as defaults, as issuers[] entries do', () => {
    expect(resolveIssuerOptions({ issuer: C.issuer, jwksUri: C.jwksUri }, module)).toEqual({
      issuer: C.issuer,
      jwksUri: C.jwksUri,
      audience: ['shared'],
      audienceClaim: 'aud',
      requiredClaimValues: {},
      algorithms: ['ES256'],
      clockToleranceSec: 10,
      maxTokenAgeSec: null,
      requiredClaims: [],
      typ: 'at+jwt',
      allowedJwksHosts: [],
      grantClaims: JWKS_DEFAULT_GRANT_CLAIMS,
    });
    expect(resolveIssuerOptions({ ...C, algorithms: ['RS256'], typ: 'JWT' }, module)).toMatchObject({ audience: ['api-c'], algorithms: ['RS256'], typ: 'JWT' });
    // Without jwksUri, discovery: the issuer must be a URL.
    expect(resolveIssuerOptions({ issuer: 'https://d.test/realms/x' }, module).jwksUri).toBeNull();
  });

  it('reports problems without an issuers[] prefix', () => {
    expect(issuerProblemsOf({ issuer: C.issuer, jwksUrl: C.jwksUri }, module)).toEqual(['unknown option "jwksUrl" (did you mean "jwksUri"?)']);
    expect(issuerProblemsOf({ ...C, audienceClaim: 'azp', requiredClaimValues: { __proto__: null, n: 1 } }, module)).toEqual([
      'audienceClaim must be "aud" or "client_id", got "azp"',
      'requiredClaimValues.n must be a string, got 1',
    ]);
    expect(issuerProblemsOf({ issuer: 'tenant-x' }, module)).toEqual(['issuer (no jwksUri given, so it is used for OIDC discovery) is not a valid URL, got "tenant-x"']);
  });

  it('requires an audience when the module has no shared one', () => {
    const noShared = resolveJwksOptions({ issuers: [A] });
    expect(issuerProblemsOf({ issuer: C.issuer, jwksUri: C.jwksUri }, noShared)).toEqual([
      "audience is required (here or as the module's shared audience): a non-empty string or array of non-empty strings",
    ]);
    expect(resolveIssuerOptions(C, noShared).audience).toEqual(['api-c']);
  });

  it('refuses what is not an object, and options it cannot read, with the typed error', () => {
    expect(issuerProblemsOf(42, module)).toEqual(['the issuer options must be an object such as { issuer, audience }, got 42']);
    expect(issuerProblemsOf(null, module)).toEqual(['the issuer options must be an object such as { issuer, audience }, got null']);
    const hostile = {
      ...C,
      get audience(): never {
        throw new Error('boom');
      },
    };
    expect(issuerProblemsOf(hostile, module)).toEqual(['issuer options could not be read (Error while reading them)']);
  });
});

describe('the one-issuer shorthand takes what a preset returns for one issuer', () => {
  it('accepts audienceClaim, requiredClaimValues and allowedJwksHosts flat, as that issuer’s', () => {
    const resolved = resolveJwksOptions({ ...A, audienceClaim: 'client_id', requiredClaimValues: { token_use: 'access' }, allowedJwksHosts: ['keys.a.test'] });
    expect(resolved.issuers[0]).toMatchObject({ audienceClaim: 'client_id', requiredClaimValues: { token_use: 'access' }, allowedJwksHosts: ['keys.a.test'] });
  });

  it('refuses them at the top level beside issuers: they describe one issuer, not a shared default', () => {
    expect(problemsOf({ issuers: [A], audienceClaim: 'client_id' })).toEqual([
      'audienceClaim describes one issuer: with issuers, set it on each issuer that needs it',
    ]);
    expect(problemsOf({ issuers: [A], requiredClaimValues: { token_use: 'access' }, allowedJwksHosts: ['x.test'] })).toHaveLength(2);
  });
});
