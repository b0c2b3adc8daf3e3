import type { JwksIssuerOptions } from '../interfaces/jwks-auth-options.interface.js';
import { describeValue } from '../options/option.checks.js';
import { FORBIDDEN_CLAIM_SEGMENTS } from '../authorization/grant-claims.mapper.js';
import { describeUrl, everyIndex, PresetInput, type IssuerPresetOverrides } from './preset.input.js';
import { LOOPBACK_HOSTS } from '../jwks-auth.constants.js';

export type { IssuerPresetOverrides } from './preset.input.js';

/**
 * Presets: pure functions that turn an identity provider's identifiers (a domain, a tenant ID, a
 * realm, a user pool) into `JwksIssuerOptions` with that provider's exact issuer string, JWKS URL
 * and audience rules, as each documents them. They fetch nothing and run once, at configuration.
 * Bad input throws a `JwksOptionsError` listing every mistake, each prefixed with the preset's name.
 * Each sets `grantClaims` to where its provider puts scopes, permissions and roles; a `grantClaims`
 * passed to the preset replaces the kinds it names.
 */

/** `auth0Issuer()`'s options. */
export interface Auth0IssuerPreset extends IssuerPresetOverrides {
  /**
   * The tenant domain (`tenant.eu.auth0.com`) or a custom domain (`login.example.com`); `https://`
   * and a trailing `/` are accepted. Auth0 writes in `iss` the domain the token was requested from:
   * if clients use both the custom and the tenant domain, register one preset for each.
   */
  domain: string;
  /** The Identifier of your API (Dashboard > Applications > APIs), e.g. `https://api.example.com`. */
  audience: string | string[];
}

/** `oktaIssuer()`'s options. */
export interface OktaIssuerPreset extends IssuerPresetOverrides {
  /** The Okta domain (`dev-123456.okta.com`) or a custom URL domain (`id.example.com`); `https://` and a trailing `/` are accepted. */
  domain: string;
  /**
   * The custom authorization server: `'default'` (the default), or its ID (`aus…`, Security > API >
   * Authorization Servers). `null` selects the org authorization server (issuer `https://{domain}`):
   * Okta's guidance is that access tokens from the org server are for Okta's own APIs only, to be
   * treated as opaque, since their content may change without notice; use it for its ID tokens
   * (audience: your app's client ID), and a custom authorization server for your API's access tokens.
   */
  authorizationServerId?: string | null;
  /**
   * The authorization server's Audience setting. Default `'api://default'` for the `'default'`
   * server; required for any other (and for the org server).
   */
  audience?: string | string[];
}

/** `entraIssuers()`'s options. Give `tenantId` or `tenants`. */
export interface EntraIssuersPreset extends IssuerPresetOverrides {
  /** Directory (tenant) ID, a GUID (Entra admin center > Overview): tokens carry it in `iss`. */
  tenantId?: string;
  /**
   * For a multi-tenant app: the tenant IDs you accept. This list stands in for the `{tenantid}` of
   * the `common`/`organizations` metadata: a token from any other tenant is refused. Personal
   * Microsoft accounts are the tenant `9188040d-6c67-4c5b-b112-36a304b66dad`.
   */
  tenants?: readonly string[];
  /**
   * Your API's application (client) ID: always the `aud` of v2.0 tokens. v1.0 tokens may carry the
   * Application ID URI (`api://…`) instead, depending on how the client asked: with v1.0, list both.
   */
  audience: string | string[];
  /**
   * Access-token versions to accept. Default `[2]`. The API's `accessTokenAcceptedVersion` (app
   * manifest) decides which one Entra issues: `null` or `1` → v1.0 (`iss` on `sts.windows.net`), `2` → v2.0.
   */
  versions?: readonly (1 | 2)[];
  /**
   * Only for an app with custom signing keys (claims mapping): its application ID, so the keys come
   * from `…/keys?appid={appId}`, as Entra documents.
   */
  appId?: string;
}

/** `keycloakIssuer()`'s options. */
export interface KeycloakIssuerPreset extends IssuerPresetOverrides {
  /**
   * The server's URL as clients reach it (its frontend URL), e.g. `https://kc.example.com`, or
   * `https://kc.example.com/auth` for Keycloak before 17 (or `--http-relative-path=/auth`). Taken as
   * given, without a trailing `/`.
   */
  baseUrl: string;
  /** The realm name; percent-encoded into the path. */
  realm: string;
  /**
   * Keycloak access tokens carry your API in `aud` only once an Audience mapper (a client scope of
   * the calling client) adds it; by default `aud` is `account` and the caller is in `azp`.
   * Realms signing with ES256 or PS256 need `algorithms` too (the default is RS256).
   */
  audience: string | string[];
  /**
   * The client whose client roles `@Roles()` also accepts (`resource_access.{clientId}.roles`),
   * usually your API's client ID. Without it, only realm roles (`realm_access.roles`) count.
   */
  clientId?: string;
}

/** `cognitoIssuer()`'s options. Give `clientId` or `clientIds`. */
export interface CognitoIssuerPreset extends IssuerPresetOverrides {
  /** The user pool ID, `{region}_{id}`, e.g. `eu-west-1_AbCdEf123`. */
  userPoolId: string;
  /** Optional: the region is the user pool ID's prefix; when given, it must equal it. */
  region?: string;
  /** The app client ID whose tokens are accepted. */
  clientId?: string;
  /** Several app client IDs. */
  clientIds?: readonly string[];
  /**
   * Which tokens: `'access'` (default; the app client is in `client_id`, and there is no `aud`) or
   * `'id'` (the app client is in `aud`). Either way `token_use` must say so, so one is never taken
   * for the other.
   */
  tokenUse?: 'access' | 'id';
  /**
   * The user pool's issuer configuration: `'original'` (default), `https://cognito-idp.{region}.amazonaws.com/{userPoolId}`,
   * or `'updated'` (recommended by AWS, needed for multi-Region replication),
   * `https://issuer-cognito-idp.{region}.amazonaws.com/{userPoolId}` with the primary region. While
   * switching, register both.
   */
  issuerFormat?: 'original' | 'updated';
}

/**
 * Auth0: issuer `https://{domain}/` (with its trailing slash), keys at
 * `https://{domain}/.well-known/jwks.json`.
 *
 * ```ts
 * auth0Issuer({ domain: 'tenant.eu.auth0.com', audience: 'https://api.example.com' })
 * ```
 */
export function auth0Issuer(options: Auth0IssuerPreset): JwksIssuerOptions {
  const input = new PresetInput('auth0Issuer', options, '{ domain, audience }', ['domain', 'audience']);
  const host = input.host('domain', 'tenant.eu.auth0.com');
  const audience = input.audience('audience', "your API's Identifier (Dashboard > Applications > APIs)");
  const overrides = input.overrides();
  const grantClaims = input.grantClaims({ scopes: 'scope', permissions: 'permissions', roles: [] });
  input.done();
  return { issuer: `https://${host}/`, jwksUri: `https://${host}/.well-known/jwks.json`, audience: audience!, ...overrides, grantClaims };
}

/**
 * Okta: a custom authorization server has the issuer `https://{domain}/oauth2/{id}` and its keys at
 * `{issuer}/v1/keys`; the org authorization server (`authorizationServerId: null`) has the issuer
 * `https://{domain}` and its keys at `https://{domain}/oauth2/v1/keys`.
 *
 * ```ts
 * oktaIssuer({ domain: 'dev-123456.okta.com' })   // the 'default' server, audience api://default
 * ```
 */
export function oktaIssuer(options: OktaIssuerPreset): JwksIssuerOptions {
  const input = new PresetInput('oktaIssuer', options, '{ domain }', ['domain', 'authorizationServerId', 'audience']);
  const host = input.host('domain', 'dev-123456.okta.com', (path) =>
    path.startsWith('/oauth2/') ? '; pass the authorization server as authorizationServerId' : '',
  );
  const id = input.value('authorizationServerId') === undefined ? 'default' : input.value('authorizationServerId');
  let base: { issuer: string; jwksUri: string } | undefined;
  let audience: string | string[] | undefined;
  if (id === null) {
    base = { issuer: `https://${host}`, jwksUri: `https://${host}/oauth2/v1/keys` };
    audience = input.audience('audience', "with the org authorization server, your app's client ID (its ID tokens carry it in aud)");
  } else if (typeof id === 'string' && OKTA_SERVER_ID.test(id)) {
    const issuer = `https://${host}/oauth2/${id}`;
    base = { issuer, jwksUri: `${issuer}/v1/keys` };
    audience =
      id === 'default' && input.value('audience') === undefined
        ? 'api://default'
        : input.audience('audience', `the Audience setting of authorization server "${id}" (Security > API > Authorization Servers)`);
  } else {
    input.problem(
      `authorizationServerId must be the id of a custom authorization server ('default', or letters and digits such as "aus1a2b3c4d5e6f7g8h9"), or null for the org server, got ${describeValue(id)}`,
    );
  }
  const overrides = input.overrides();
  const grantClaims = input.grantClaims({ scopes: ['scp', 'scope'], permissions: [], roles: [] });
  input.done();
  return { ...base!, audience: audience!, ...overrides, grantClaims };
}

/**
 * Microsoft Entra ID: one issuer per tenant and token version. v2.0: issuer
 * `https://login.microsoftonline.com/{tid}/v2.0`, keys at `…/{tid}/discovery/v2.0/keys`. v1.0: issuer
 * `https://sts.windows.net/{tid}/` (with its trailing slash), keys at `…/{tid}/discovery/keys`.
 * Covers the global cloud; national clouds have other hosts. Entra puts delegated scopes in `scp`
 * (a space-separated string) and app roles in `roles` (an array): `@Scopes()` and `@Roles()` read those.
 *
 * ```ts
 * entraIssuers({ tenantId: '…guid…', audience: '…api client id…' })
 * entraIssuers({ tenants: ['…guid…', '…guid…'], audience: [...], versions: [1, 2] })
 * ```
 */
export function entraIssuers(options: EntraIssuersPreset): JwksIssuerOptions[] {
  const input = new PresetInput('entraIssuers', options, '{ tenantId, audience }', ['tenantId', 'tenants', 'audience', 'versions', 'appId']);
  const tenantIds = entraTenants(input);
  const audience = input.audience('audience', 'the application (client) ID of your API (v1.0 tokens may carry its Application ID URI instead: list both)');
  const versions = entraVersions(input);
  const appId = input.value('appId');
  if (appId !== undefined && !(typeof appId === 'string' && GUID.test(appId))) {
    input.problem(`appId must be the application (client) ID, a GUID, got ${describeValue(appId)}`);
  }
  const keysQuery = typeof appId === 'string' ? `?appid=${appId.toLowerCase()}` : '';
  const overrides = input.overrides();
  const grantClaims = input.grantClaims({ scopes: 'scp', permissions: [], roles: 'roles' });
  input.done();
  return tenantIds.flatMap((tid) =>
    versions.map((version) => ({
      ...(version === 2
        ? { issuer: `https://login.microsoftonline.com/${tid}/v2.0`, jwksUri: `https://login.microsoftonline.com/${tid}/discovery/v2.0/keys${keysQuery}` }
        : { issuer: `https://sts.windows.net/${tid}/`, jwksUri: `https://login.microsoftonline.com/${tid}/discovery/keys${keysQuery}` }),
      audience: copy(audience!),
      ...copyOverrides(overrides),
      grantClaims: { ...grantClaims },
    })),
  );
}

/**
 * Keycloak: issuer `{baseUrl}/realms/{realm}`, keys at `{issuer}/protocol/openid-connect/certs`.
 *
 * ```ts
 * keycloakIssuer({ baseUrl: 'https://kc.example.com', realm: 'acme', audience: 'orders-api' })
 * ```
 */
export function keycloakIssuer(options: KeycloakIssuerPreset): JwksIssuerOptions {
  const input = new PresetInput('keycloakIssuer', options, '{ baseUrl, realm, audience }', ['baseUrl', 'realm', 'audience', 'clientId']);
  const base = keycloakBase(input);
  const realm = input.value('realm');
  if (typeof realm !== 'string' || realm === '') {
    input.problem(`realm is required: the realm name, got ${describeValue(realm)}`);
  } else if (/\p{Surrogate}/u.test(realm)) {
    input.problem('realm must be well-formed text (it holds a lone surrogate, which cannot be put in a URL)');
  } else if (realm === '.' || realm === '..') {
    input.problem(`realm "${realm}" would be read as a relative path, not as a realm name`);
  }
  const audience = input.audience('audience', "the client ID of your API, which the calling client's Audience mapper puts in aud");
  const clientId = input.value('clientId');
  if (clientId !== undefined && !(typeof clientId === 'string' && clientId !== '' && !FORBIDDEN_CLAIM_SEGMENTS.has(clientId))) {
    input.problem(`clientId must be the client whose roles to read (resource_access.<clientId>.roles), a non-empty name, got ${describeValue(clientId)}`);
  }
  const overrides = input.overrides();
  const roles: string[][] = [['realm_access', 'roles']];
  if (typeof clientId === 'string') roles.push(['resource_access', clientId, 'roles']);
  const grantClaims = input.grantClaims({ scopes: 'scope', permissions: [], roles });
  input.done();
  const issuer = `${base}/realms/${pathSegment(realm as string)}`;
  return { issuer, jwksUri: `${issuer}/protocol/openid-connect/certs`, audience: audience!, ...overrides, grantClaims };
}

/**
 * Amazon Cognito user pools: issuer `https://cognito-idp.{region}.amazonaws.com/{userPoolId}`, keys
 * at `{issuer}/.well-known/jwks.json`. Access tokens (the default) name the app client in
 * `client_id` and carry no `aud`; ID tokens name it in `aud`. `token_use` must match either way.
 *
 * ```ts
 * cognitoIssuer({ userPoolId: 'eu-west-1_AbCdEf123', clientId: '1example23456789' })
 * ```
 */
export function cognitoIssuer(options: CognitoIssuerPreset): JwksIssuerOptions {
  const input = new PresetInput(
    'cognitoIssuer', options, '{ userPoolId, clientId }',
    ['userPoolId', 'region', 'clientId', 'clientIds', 'tokenUse', 'issuerFormat'],
    ['audience'],
  );
  const poolId = input.value('userPoolId');
  const match = typeof poolId === 'string' ? COGNITO_POOL_ID.exec(poolId) : null;
  if (!match) input.problem(`userPoolId must look like "eu-west-1_AbCdEf123" ({region}_{id}), got ${describeValue(poolId)}`);
  const region = input.value('region');
  if (region !== undefined) {
    if (typeof region !== 'string' || !COGNITO_REGION.test(region)) {
      input.problem(`region must look like "eu-west-1", got ${describeValue(region)}`);
    } else if (match && match[1] !== region) {
      input.problem(`userPoolId "${poolId as string}" belongs to region ${match[1]}, not ${region}`);
    }
  }
  const audience = cognitoClients(input);
  const tokenUse = input.value('tokenUse') ?? 'access';
  if (tokenUse !== 'access' && tokenUse !== 'id') input.problem(`tokenUse must be 'access' or 'id', got ${describeValue(tokenUse)}`);
  const format = input.value('issuerFormat') ?? 'original';
  if (format !== 'original' && format !== 'updated') input.problem(`issuerFormat must be 'original' or 'updated', got ${describeValue(format)}`);
  const overrides =
    tokenUse === 'access' || tokenUse === 'id'
      ? input.overrides({ token_use: tokenUse }, `use tokenUse: '${tokenUse === 'access' ? 'id' : 'access'}' to accept ${tokenUse === 'access' ? 'ID' : 'access'} tokens`)
      : input.overrides();
  const grantClaims = input.grantClaims({ scopes: 'scope', permissions: [], roles: 'cognito:groups' });
  input.done();
  const host = format === 'updated' ? 'issuer-cognito-idp' : 'cognito-idp';
  const issuer = `https://${host}.${match![1]}.amazonaws.com/${poolId as string}`;
  return {
    issuer,
    jwksUri: `${issuer}/.well-known/jwks.json`,
    audience: audience!,
    audienceClaim: tokenUse === 'access' ? 'client_id' : 'aud',
    ...overrides,
    grantClaims,
  };
}

// --- each identity provider's identifiers ---------------------------------------------------------------

/** Okta's authorization server IDs are `default` or generated (`aus` + letters and digits). */
const OKTA_SERVER_ID = /^[A-Za-z0-9]{1,64}$/;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Entra's tenant-independent endpoints: they name a set of tenants, and no token carries them in `iss`. */
const ENTRA_ALIASES = ['common', 'organizations', 'consumers'];
const ENTRA_CONSUMERS_TENANT = '9188040d-6c67-4c5b-b112-36a304b66dad';
/** AWS's own verifier (aws-jwt-verify) accepts these user pool IDs: `{region}_{id}`. */
const COGNITO_POOL_ID = /^([a-z]{2}-(?:gov-)?[a-z]+-\d)_[a-zA-Z0-9]+$/;
const COGNITO_REGION = /^[a-z]{2}-(?:gov-)?[a-z]+-\d$/;
/** Cognito's API pattern for app client IDs. */
const COGNITO_CLIENT_ID = /^[\w+]{1,128}$/;

function entraTenants(input: PresetInput): string[] {
  const one = input.value('tenantId');
  const many = input.value('tenants');
  if (one !== undefined && many !== undefined) {
    input.problem('give tenantId or tenants, not both');
    return [];
  }
  if (one === undefined && many === undefined) {
    input.problem('give tenantId, or tenants for a multi-tenant app: the directory (tenant) IDs whose tokens you accept');
    return [];
  }
  const given = one !== undefined ? [one] : many;
  if (!Array.isArray(given) || given.length === 0) {
    input.problem(`tenants must be a non-empty array of tenant IDs, got ${describeValue(many)}`);
    return [];
  }
  const tenants: string[] = [];
  for (let i = 0; i < given.length; i++) {
    const tenant: unknown = given[i];
    if (typeof tenant === 'string' && ENTRA_ALIASES.includes(tenant.toLowerCase())) {
      const consumers = tenant.toLowerCase() === 'consumers' ? ` (personal Microsoft accounts are the tenant ${ENTRA_CONSUMERS_TENANT})` : '';
      input.problem(
        `tenant "${tenant}" is an endpoint alias, not a tenant: tokens carry the real tenant ID in iss, and accepting the alias would accept every tenant${consumers}; list the tenant IDs you accept in tenants`,
      );
    } else if (typeof tenant !== 'string' || !GUID.test(tenant)) {
      input.problem(`tenant ${describeValue(tenant)} must be a tenant ID (a GUID): tokens carry the GUID in iss, never a domain name`);
    } else if (!tenants.includes(tenant.toLowerCase())) {
      // Entra writes the GUID in lower case; a tenant listed twice would be two identical issuers.
      tenants.push(tenant.toLowerCase());
    }
  }
  return tenants;
}

function entraVersions(input: PresetInput): (1 | 2)[] {
  const given = input.value('versions');
  if (given === undefined) return [2];
  if (!Array.isArray(given) || given.length === 0 || !everyIndex(given, (v) => v === 1 || v === 2)) {
    input.problem(`versions must be a non-empty array of 1 and/or 2 (access-token versions), got ${describeValue(given)}`);
    return [];
  }
  return [...new Set(given as (1 | 2)[])];
}

/** The base URL, normalized by the URL parser, without query or trailing slash; `undefined` if refused. */
function keycloakBase(input: PresetInput): string | undefined {
  const value = input.value('baseUrl');
  if (typeof value !== 'string' || value === '') {
    input.problem(`baseUrl is required: the Keycloak server's URL such as "https://kc.example.com", got ${describeValue(value)}`);
    return undefined;
  }
  if (value.includes('\\')) {
    // The WHATWG parser reads `\` as `/`, other parsers do not: an upstream check could see another host.
    input.problem(`baseUrl must not contain a backslash, got ${describeUrl(value)}`);
    return undefined;
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    input.problem(`baseUrl must be an absolute URL such as "https://kc.example.com", got ${describeUrl(value)}`);
    return undefined;
  }
  const problems = input.problems.length;
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK_HOSTS.test(url.hostname))) {
    input.problem(`baseUrl must use https (http only on a loopback host), got ${describeUrl(value)}`);
  }
  if (url.username !== '' || url.password !== '') input.problem(`baseUrl must not carry credentials, got ${describeUrl(value)}`);
  if (url.search !== '' || url.hash !== '' || /[?#]/.test(value)) input.problem(`baseUrl must have no query or fragment, got ${describeUrl(value)}`);
  const path = url.pathname.replace(/\/+$/, '');
  if (/\/realms(\/|$)/.test(path)) input.problem(`baseUrl must stop before /realms/: pass the realm as realm, got ${describeUrl(value)}`);
  return input.problems.length === problems ? `${url.origin}${path}` : undefined;
}

function cognitoClients(input: PresetInput): string | string[] | undefined {
  const one = input.value('clientId');
  const many = input.value('clientIds');
  if (one !== undefined && many !== undefined) {
    input.problem('give clientId or clientIds, not both');
    return undefined;
  }
  if (one === undefined && many === undefined) {
    input.problem('give clientId (or clientIds): the app client ID whose tokens you accept (the user pool alone would accept every app client)');
    return undefined;
  }
  const valid = (id: unknown): boolean => typeof id === 'string' && COGNITO_CLIENT_ID.test(id);
  if (one !== undefined) {
    if (valid(one)) return one as string;
    input.problem(`clientId must be an app client ID (letters, digits, _ and +), got ${describeValue(one)}`);
    return undefined;
  }
  if (Array.isArray(many) && many.length > 0 && everyIndex(many, valid)) return [...(many as string[])];
  input.problem(`clientIds must be a non-empty array of app client IDs, got ${describeValue(many)}`);
  return undefined;
}

/**
 * One path segment, percent-encoded as RFC 3986 allows (`pchar`): what `encodeURIComponent` encodes,
 * except the sub-delimiters, `:` and `@`, which a path segment may hold as they are. This is the
 * form a JAX-RS URI builder (which Keycloak builds its issuer with) gives a path parameter, so an
 * unusual realm name still yields Keycloak's own issuer string; `/`, `?`, `#` and `%` are encoded,
 * so the realm stays one segment whatever it holds.
 */
function pathSegment(value: string): string {
  return encodeURIComponent(value).replace(/%(24|26|2B|2C|3B|3D|3A|40)/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

function copy(audience: string | string[]): string | string[] {
  return Array.isArray(audience) ? [...audience] : audience;
}

/** A fresh copy for each issuer built from one input, so no two issuers share an array. */
function copyOverrides(overrides: IssuerPresetOverrides): IssuerPresetOverrides {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(overrides)) {
    out[key] = Array.isArray(value) ? [...(value as unknown[])] : typeof value === 'object' && value !== null ? { ...value } : value;
  }
  return out as IssuerPresetOverrides;
}
