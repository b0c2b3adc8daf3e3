import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { runVectors, wycheproofDir, type VectorResult } from './wycheproof.runner';

/**
 * Conformance: every Wycheproof JWS/JWK vector, one test each. A vector passes when we do what a
 * public-key verifier must (accept valid, refuse invalid, refuse any symmetric key), or when it is
 * listed in expected-exceptions.json with its reason. A listed vector that no longer differs fails,
 * so the list cannot go stale.
 */
const dir = wycheproofDir();
const exceptions = JSON.parse(readFileSync(resolve(process.cwd(), 'test/conformance/expected-exceptions.json'), 'utf8')) as Record<
  string,
  { file: string; reason: string }
>;

describe('Wycheproof conformance', () => {
  if (dir === null) {
    it('finds the vectors (set WYCHEPROOF_DIR, or keep ../shared/conformance/wycheproof beside the project)', () => {
      throw new Error('Wycheproof vectors not found');
    });
    return;
  }
  const results = runVectors(dir);
  const key = (r: VectorResult) => `${r.file.startsWith('json_web_key') ? 'jwk' : 'jws'}:${r.tcId}`;

  it('ran every vector of both files', () => {
    expect(results.filter((r) => r.file === 'json_web_signature_test.json')).toHaveLength(401);
    expect(results.filter((r) => r.file === 'json_web_key_test.json')).toHaveLength(26);
  });

  it.each(results.map((r) => [key(r), r.comment, r] as const))('%s %s', (id, _comment, r) => {
    const listed = exceptions[id];
    if (listed) {
      expect({ id, outcome: r.outcome }).not.toEqual({ id, outcome: r.required });
    } else {
      expect({ id, outcome: r.outcome, reason: r.reason }).toMatchObject({ id, outcome: r.required });
    }
  });

  afterAll(() => {
    const accepted = results.filter((r) => r.outcome === 'accept').length;
    const mismatched = results.filter((r) => r.outcome !== r.required).map(key);
    console.log(
      `Wycheproof: ${results.length} vectors, ${accepted} accepted, ${results.length - accepted} refused, ` +
        `${results.filter((r) => r.symmetric).length} symmetric-key vectors refused by design, ` +
        `${mismatched.length} differing from the vector's expectation (all listed: ${mismatched.join(', ') || 'none'})`,
    );
  });
});
