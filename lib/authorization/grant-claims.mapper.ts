import type { JwtClaims } from '../verify/claims.validator.js';
import type { GrantKind } from './grants.policy.js';

/**
 * A claim's place in the token: a top-level claim name taken literally (`'scp'`,
 * `'cognito:groups'`, `'https://example.com/roles'`: dots are not separators), or the segments of a
 * nested claim (`['realm_access', 'roles']`).
 */
export type ClaimPath = string | readonly string[];

/**
 * Reads grants from verified claims yourself. Must return an array of strings; anything else (or a
 * throw) counts as no grant. Called only on routes that require that kind.
 */
export type GrantClaimMapper = (claims: JwtClaims) => readonly string[];

/**
 * Where one kind of grant is: one claim name, a list of places (their values are combined), or a
 * function. `[]` means this issuer carries none.
 */
export type GrantClaimSource = string | readonly ClaimPath[] | GrantClaimMapper;

/**
 * Where an issuer puts scopes, permissions and roles. Each kind left out keeps its default (see
 * `JWKS_DEFAULT_GRANT_CLAIMS`); the presets set their identity provider's places.
 *
 * A string value is a space-separated list for scopes and permissions (OAuth's `scope` syntax) and
 * one role for roles (a role name with a space must not become two roles); an array contributes
 * each of its string entries; anything else is ignored.
 */
export interface GrantClaimsOptions {
  scopes?: GrantClaimSource;
  permissions?: GrantClaimSource;
  roles?: GrantClaimSource;
}

/** One kind's places after validation: paths as segment lists, or the given function. */
export type ResolvedGrantSource = readonly (readonly string[])[] | GrantClaimMapper;

/** `grantClaims` after validation, every kind set. */
export interface ResolvedGrantClaims {
  readonly scopes: ResolvedGrantSource;
  readonly permissions: ResolvedGrantSource;
  readonly roles: ResolvedGrantSource;
}

/** Reads the grants of one issuer's tokens; carried by its `IssuerRoute`. */
export interface GrantReader {
  /** The grants of `kind` the claims hold: a fresh set, or a shared empty one. */
  read(kind: GrantKind, claims: JwtClaims): ReadonlySet<string>;
}

/** Path segments never followed: they name what an object inherits, not what a token says. */
export const FORBIDDEN_CLAIM_SEGMENTS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

const NONE: ReadonlySet<string> = Object.freeze(new Set<string>());
const hasOwn = Object.prototype.hasOwnProperty;

/** The value at a path, own properties of plain objects only; undefined when any step is missing. */
function valueAt(claims: JwtClaims, path: readonly string[]): unknown {
  let value: unknown = claims;
  for (let i = 0; i < path.length; i++) {
    const segment = path[i];
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
    if (FORBIDDEN_CLAIM_SEGMENTS.has(segment) || !hasOwn.call(value, segment)) return undefined;
    value = (value as Record<string, unknown>)[segment];
  }
  return value;
}

function collect(into: Set<string>, value: unknown, split: boolean): void {
  if (typeof value === 'string') {
    if (!split) {
      if (value !== '') into.add(value);
      return;
    }
    for (const part of value.split(' ')) if (part !== '') into.add(part);
  } else if (Array.isArray(value)) {
    // Entries are taken as they are, never split: an array already says where each value ends.
    for (let i = 0; i < value.length; i++) {
      const entry: unknown = value[i];
      if (typeof entry === 'string' && entry !== '') into.add(entry);
    }
  }
}

function readSource(source: ResolvedGrantSource, kind: GrantKind, claims: JwtClaims): ReadonlySet<string> {
  if (typeof source === 'function') {
    let mapped: unknown;
    try {
      mapped = source(claims);
    } catch {
      // A broken mapper grants nothing: the route is refused, never opened.
      return NONE;
    }
    if (!Array.isArray(mapped)) return NONE;
    const out = new Set<string>();
    collect(out, mapped, false);
    return out;
  }
  if (source.length === 0) return NONE;
  const out = new Set<string>();
  for (const path of source) collect(out, valueAt(claims, path), kind !== 'roles');
  return out;
}

/** The reader of an issuer's resolved `grantClaims`. */
export function grantReader(resolved: ResolvedGrantClaims): GrantReader {
  return Object.freeze({
    read: (kind: GrantKind, claims: JwtClaims) => readSource(resolved[kind], kind, claims),
  });
}

/** A reader that finds nothing: for a token whose issuer is no longer configured. */
export const NO_GRANTS: GrantReader = Object.freeze({ read: () => NONE });
