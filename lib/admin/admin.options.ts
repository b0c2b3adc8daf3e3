import type { CanActivate, Type } from '@nestjs/common';
import { ADMIN_DEFAULTS } from '../jwks-auth.constants.js';
import { JwksOptionsError } from '../errors/jwks.errors.js';
import { describeValue, isPlainObject, unknownKeys } from '../options/option.checks.js';

/**
 * The admin controller (`admin`), off unless set. A static option of `forRoot` and of
 * `forRootAsync` (beside `useFactory`, like `isGlobal`): routes must be known when the module is
 * built, before any factory runs.
 */
export interface JwksAdminOptions {
  /**
   * Required: who may call the admin routes. A guard class (resolved in this module, so its
   * dependencies must be global or this module's exports, e.g. `JwksAuthGuard`) or an instance.
   * There is no default: operations that revoke keys are never open by mistake.
   */
  guard: Type<CanActivate> | CanActivate;
  /** Where the routes live; default `jwks-auth/admin` (the app's global prefix applies). */
  path?: string;
  /**
   * Scopes the token must hold, for `guard: JwksAuthGuard` (set as `@Scopes(...)` on the
   * controller); other guards ignore them.
   */
  scopes?: string[];
}

/** The `admin` option after validation. */
export interface ResolvedAdminOptions {
  readonly guard: Type<CanActivate> | CanActivate;
  readonly path: string;
  readonly scopes: readonly string[];
}

const KNOWN = ['guard', 'path', 'scopes'] as const;
/** Relative path segments: no query, no `..`, no `//` and no route parameters. */
const PATH = /^\/?[A-Za-z0-9._~-]+(\/[A-Za-z0-9._~-]+)*$/;
/** RFC 6749 §3.3 scope-token. */
const SCOPE = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

function isGuard(value: unknown): value is Type<CanActivate> | CanActivate {
  if (typeof value === 'function') return typeof (value as { prototype?: { canActivate?: unknown } }).prototype?.canActivate === 'function';
  return typeof value === 'object' && value !== null && typeof (value as { canActivate?: unknown }).canActivate === 'function';
}

/** The `admin` option: null when absent; throws JwksOptionsError (every problem listed) when wrong. */
export function resolveAdminOptions(value: unknown): ResolvedAdminOptions | null {
  if (value === undefined || value === null) return null;
  const problems: string[] = [];
  if (!isPlainObject(value)) throw new JwksOptionsError([`admin must be { guard, path?, scopes? }, got ${describeValue(value)}`]);
  unknownKeys(problems, 'admin.', value, KNOWN);
  const { guard, path, scopes } = value;
  if (guard === undefined) problems.push('the admin routes must be guarded: give admin.guard (a guard class such as JwksAuthGuard, or an instance)');
  else if (!isGuard(guard)) problems.push(`admin.guard must be a guard class or instance (with canActivate), got ${describeValue(guard)}`);
  if (path !== undefined && (typeof path !== 'string' || path.length > 200 || !PATH.test(path) || path.split('/').includes('..'))) {
    problems.push(`admin.path must be a path of letters, digits and . _ ~ - segments such as "jwks-auth/admin", got ${describeValue(path)}`);
  }
  if (scopes !== undefined && (!Array.isArray(scopes) || scopes.length === 0 || !scopes.every((s) => typeof s === 'string' && SCOPE.test(s)))) {
    problems.push(`admin.scopes must be a non-empty list of scope tokens, got ${describeValue(scopes)}`);
  }
  if (problems.length > 0) throw new JwksOptionsError(problems);
  return Object.freeze({
    guard: guard as ResolvedAdminOptions['guard'],
    path: ((path as string | undefined) ?? ADMIN_DEFAULTS.path).replace(/^\//, ''),
    scopes: Object.freeze([...((scopes as string[] | undefined) ?? [])]),
  });
}
