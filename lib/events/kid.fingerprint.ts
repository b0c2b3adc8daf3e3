import { createHash } from 'node:crypto';

/** A short, stable, non-reversible name for a kid in logs: the kid itself never goes to a log. */
export function kidFingerprint(kid: string): string {
  return `kid#${createHash('sha256').update(kid).digest('base64url').slice(0, 10)}`;
}
