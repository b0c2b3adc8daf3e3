import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { SUPPORTED_ALGORITHMS } from '../../lib/jwks-auth.constants';
import { JwksAuthError } from '../../lib/errors/jwks.errors';
import { parseJwkSet } from '../../lib/verify/jwk-set.parser';
import { verifySignature } from '../../lib/verify/signature.verifier';
import { parseJws } from '../../lib/verify/token.parser';

/**
 * Runs Project Wycheproof's JWS and JWK vectors through our key-selection and signature layer
 * (the payloads are not JWT claims, so claims are not checked here).
 */

export interface VectorResult {
  file: string;
  tcId: number;
  comment: string;
  expected: 'valid' | 'invalid';
  /** What a public-key verifier must do: `expected`, except that symmetric-key groups must be refused. */
  required: 'accept' | 'reject';
  outcome: 'accept' | 'reject';
  /** Why we refused, as an error code. */
  reason: string | null;
  symmetric: boolean;
}

interface Group {
  comment: string;
  public?: unknown;
  private?: unknown;
  tests: Array<{ tcId: number; comment: string; jws: unknown; result: 'valid' | 'invalid' | 'acceptable' }>;
}

export function wycheproofDir(): string | null {
  const dir = process.env.WYCHEPROOF_DIR ?? resolve(process.cwd(), '../shared/conformance/wycheproof');
  return existsSync(resolve(dir, 'json_web_signature_test.json')) ? dir : null;
}

const ALL = new Set<string>(SUPPORTED_ALGORITHMS);

function keysOf(group: Group, file: string): unknown[] {
  const source = (group.public ?? group.private) as { keys?: unknown[] } | undefined;
  if (file.includes('json_web_key')) return source?.keys ?? [];
  return source ? [source] : [];
}

function run(jws: unknown, keys: unknown[]): { outcome: 'accept' | 'reject'; reason: string | null } {
  try {
    if (typeof jws !== 'string') return { outcome: 'reject', reason: 'NOT_COMPACT' };
    const index = parseJwkSet(JSON.stringify({ keys }), [...ALL], 100);
    const parsed = parseJws(jws, 64 * 1024, ALL);
    const candidates = index.candidates(parsed.kid, parsed.alg);
    if (!candidates) return { outcome: 'reject', reason: 'ERR_JWKS_NO_MATCHING_KEY' };
    verifySignature(parsed, candidates);
    return { outcome: 'accept', reason: null };
  } catch (err) {
    if (err instanceof JwksAuthError) {
      const kind = (err as { kind?: string }).kind;
      return { outcome: 'reject', reason: kind ? `${err.code}:${kind}` : err.code };
    }
    // Anything else is a crash of the verifier: surfaced, never counted as a clean refusal.
    throw err;
  }
}

export function runVectors(dir: string): VectorResult[] {
  const results: VectorResult[] = [];
  for (const file of ['json_web_signature_test.json', 'json_web_key_test.json']) {
    const doc = JSON.parse(readFileSync(resolve(dir, file), 'utf8')) as { testGroups: Group[] };
    for (const group of doc.testGroups) {
      const keys = keysOf(group, file);
      const symmetric = keys.some((k) => (k as { kty?: string }).kty === 'oct');
      for (const t of group.tests) {
        const { outcome, reason } = run(t.jws, keys);
        const expected = t.result === 'valid' ? 'valid' : 'invalid';
        results.push({
          file,
          tcId: t.tcId,
          comment: `${group.comment}/${t.comment}`,
          expected,
          required: symmetric || expected === 'invalid' ? 'reject' : 'accept',
          outcome,
          reason,
          symmetric,
        });
      }
    }
  }
  return results;
}
