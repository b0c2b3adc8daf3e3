import { JwksOptionsError } from '../errors/jwks.errors.js';
import type { JwksIssuerOptions } from '../interfaces/jwks-auth-options.interface.js';
import type { GrantClaimsOptions } from '../authorization/grant-claims.mapper.js';
import { describeUrl } from '../options/options.validator.js';
import { describeValue } from '../options/option.checks.js';

/**
 * The issuer options a preset passes through unchanged. The rest (`issuer`, `jwksUri`,
 * `audienceClaim`) is what the preset derives, so it is not accepted: a preset whose issuer can be
 * replaced would no longer say what it builds. `allowedJwksHosts` only matters for discovery, and
 * presets always name the JWKS.
 */
export type IssuerPresetOverrides = Pick<
  JwksIssuerOptions,
  'algorithms' | 'clockToleranceSec' | 'maxTokenAgeSec' | 'requiredClaims' | 'typ' | 'requiredClaimValues' | 'grantClaims'
>;

const OVERRIDE_KEYS = ['algorithms', 'clockToleranceSec', 'maxTokenAgeSec', 'requiredClaims', 'typ', 'requiredClaimValues', 'grantClaims'] as const;
/** Issuer options every preset builds itself; named in the error when passed. */
const DERIVED_KEYS = ['issuer', 'jwksUri', 'audienceClaim', 'allowedJwksHosts'];

/** One DNS label: letters, digits and inner hyphens, at most 63 characters. */
const HOST_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * One preset's input and the problems found in it. Every check records its problem and goes on,
 * so the caller sees every mistake at once; `done()` throws them.
 */
export class PresetInput {
  readonly problems: string[] = [];
  private readonly fields: Record<string, unknown>;

  constructor(
    private readonly preset: string,
    input: unknown,
    shape: string,
    ownKeys: readonly string[],
    derivedKeys: readonly string[] = [],
  ) {
    if (typeof input !== 'object' || input === null || Array.isArray(input)) {
      throw new JwksOptionsError([`${preset}(): options must be an object such as ${shape}, got ${describeValue(input)}`]);
    }
    this.fields = input as Record<string, unknown>;
    const known = [...ownKeys, ...OVERRIDE_KEYS];
    for (const key of Object.keys(this.fields)) {
      if (known.includes(key)) continue;
      const derived = DERIVED_KEYS.includes(key) || derivedKeys.includes(key);
      this.problem(derived ? `unknown option "${key}" (a preset builds it)` : `unknown option "${key}"; known: ${known.join(', ')}`);
    }
  }

  /** An own field only: a key inherited through the prototype is not the caller's option. */
  value(key: string): unknown {
    return Object.prototype.hasOwnProperty.call(this.fields, key) ? this.fields[key] : undefined;
  }

  problem(message: string): void {
    this.problems.push(`${this.preset}(): ${message}`);
  }

  done(): void {
    if (this.problems.length > 0) throw new JwksOptionsError(this.problems);
  }

  /**
   * A host name given alone or as `https://host/`, lower-cased. `pathHint` adds advice when the
   * value carries a path (a copied issuer URL).
   */
  host(key: string, example: string, pathHint: (path: string) => string = () => ''): string | undefined {
    const value = this.value(key);
    if (typeof value !== 'string' || value === '') {
      this.problem(`${key} is required: a host name such as "${example}", got ${describeValue(value)}`);
      return undefined;
    }
    let host = value;
    const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(host);
    if (scheme) {
      if (scheme[1].toLowerCase() !== 'https') {
        this.problem(`${key} must be served over https, got ${describeUrl(value)}`);
        return undefined;
      }
      host = host.slice(scheme[0].length);
    }
    host = host.replace(/\/+$/, '');
    const extra = /[/?#]/.exec(host);
    if (extra) {
      this.problem(`${key} must be the host name alone, without a path, query or fragment, got ${describeUrl(value)}${pathHint(host.slice(extra.index))}`);
      return undefined;
    }
    if (host.includes('@')) {
      this.problem(`${key} must be the host name alone, without credentials, got ${describeUrl(value)}`);
      return undefined;
    }
    if (host.includes(':')) {
      this.problem(`${key} must be the host name alone, without a port, got ${describeValue(value)}`);
      return undefined;
    }
    host = host.toLowerCase();
    const labels = host.split('.');
    // A last label that is a number (`127.1`, `0x7f.1`, `10.0.0.1`) makes the URL parser read an IP
    // address: a "domain" from a tenant would then point the key fetch at an internal address.
    if (host.length > 253 || labels.length < 2 || !labels.every((label) => HOST_LABEL.test(label)) || /^(\d+|0x[0-9a-f]*)$/i.test(labels[labels.length - 1])) {
      this.problem(`${key} must be a host name such as "${example}", got ${describeValue(value)}`);
      return undefined;
    }
    return host;
  }

  /** A non-empty string or a non-empty array of them (copied), or `undefined` with a problem that says what it is. */
  audience(key: string, what: string): string | string[] | undefined {
    const value = this.value(key);
    if (typeof value === 'string' && value !== '') return value;
    if (Array.isArray(value) && value.length > 0 && everyIndex(value, (v) => typeof v === 'string' && v !== '')) return [...(value as string[])];
    this.problem(`${key} is required: ${what}; a non-empty string or array of non-empty strings, got ${describeValue(value)}`);
    return undefined;
  }

  /**
   * The pass-through options the caller set (arrays copied, unset ones left out, so a module-wide
   * default still applies). `fixed` are claim values the preset requires: the caller may add others,
   * not change these.
   */
  overrides(fixed: Record<string, string> = {}, fixedHint = ''): IssuerPresetOverrides {
    const out: Record<string, unknown> = {};
    for (const key of OVERRIDE_KEYS) {
      if (key === 'requiredClaimValues' || key === 'grantClaims') continue;
      const value = this.value(key);
      if (value !== undefined) out[key] = Array.isArray(value) ? [...(value as unknown[])] : value;
    }
    const given = this.value('requiredClaimValues');
    let claimValues: Record<string, string> = {};
    if (given !== undefined) {
      if (typeof given !== 'object' || given === null || Array.isArray(given) || !Object.values(given).every((v) => typeof v === 'string')) {
        this.problem(`requiredClaimValues must be an object of claim names to string values, got ${describeValue(given)}`);
      } else {
        // Spread copies own keys as data, so a "__proto__" claim name stays a claim name.
        claimValues = { ...(given as Record<string, string>) };
      }
    }
    for (const [claim, required] of Object.entries(fixed)) {
      if (Object.prototype.hasOwnProperty.call(claimValues, claim) && claimValues[claim] !== required) {
        this.problem(`requiredClaimValues.${claim} is set by the preset to "${required}"; ${fixedHint}`);
      }
    }
    if (given !== undefined || Object.keys(fixed).length > 0) out.requiredClaimValues = { ...claimValues, ...fixed };
    return out as IssuerPresetOverrides;
  }

  /**
   * The identity provider's grant places, with the kinds the caller set in `grantClaims` in their
   * stead (the module's validation checks each value).
   */
  grantClaims(preset: GrantClaimsOptions): GrantClaimsOptions {
    const given = this.value('grantClaims');
    if (given === undefined) return { ...preset };
    if (typeof given !== 'object' || given === null || Array.isArray(given)) {
      this.problem(`grantClaims must be an object such as { roles: ['groups'] }, got ${describeValue(given)}`);
      return { ...preset };
    }
    return { ...preset, ...(given as GrantClaimsOptions) };
  }
}

/** `Array.prototype.every` skips the holes of a sparse array (`[, 'x']`); this checks every index. */
export function everyIndex(values: readonly unknown[], ok: (value: unknown) => boolean): boolean {
  for (let i = 0; i < values.length; i++) if (!ok(values[i])) return false;
  return true;
}

export { describeUrl };
