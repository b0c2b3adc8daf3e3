/**
 * Load-time checks of EdDSA public keys (RFC 8032). OpenSSL imports any 32- or 57-byte string as
 * a key and verifies against it as given, so two kinds of keys must be refused here:
 *
 * - small-order points (the identity, the all-zero placeholder, the other torsion points): with
 *   such a key A, `[S]B = R + [k]A` holds for R = identity and S = 0 on every message (or one in
 *   two, four or eight), so anyone can forge tokens;
 * - non-canonical encodings (y ≥ p, stray bits in Ed448's last byte): RFC 8032 §5.1.3 and
 *   §5.2.3 say decoding fails; they are second spellings of other points, small-order ones among them.
 *
 * Every small-order point has one of a few y coordinates, and x is fixed by y up to its sign, so
 * checking y covers both signs (and the non-canonical "−0").
 */

const P25519 = 2n ** 255n - 19n;
const P448 = 2n ** 448n - 2n ** 224n - 1n;
/** y of the points of order 8; the other two have p − y. */
const Y25519_ORDER8 = 0x7a03ac9277fdc74ec6cc392cfa53202a0f67100d760b3cba4fd84d3d706a17c7n;

/** y of every Ed25519 point of order 1, 2, 4 or 8 (the curve's cofactor is 8). */
const SMALL_ORDER_Y25519: ReadonlySet<bigint> = new Set([1n, P25519 - 1n, 0n, Y25519_ORDER8, P25519 - Y25519_ORDER8]);
/** y of every Ed448 point of order 1, 2 or 4 (cofactor 4): (0, 1), (0, −1), (±1, 0). */
const SMALL_ORDER_Y448: ReadonlySet<bigint> = new Set([1n, P448 - 1n, 0n]);

function littleEndian(bytes: Uint8Array, length: number): bigint {
  let n = 0n;
  for (let i = length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]);
  return n;
}

/** Why an OKP key's `x` is refused, or null for a key we may verify with. */
export function eddsaKeyProblem(crv: string, x: string): 'weak-eddsa-key' | 'invalid-key-material' | null {
  const bytes = Buffer.from(x, 'base64url');
  if (crv === 'Ed25519') {
    if (bytes.length !== 32) return 'invalid-key-material';
    const y = littleEndian(bytes, 32) & ((1n << 255n) - 1n); // the top bit is x's sign
    if (y >= P25519) return 'invalid-key-material';
    return SMALL_ORDER_Y25519.has(y) ? 'weak-eddsa-key' : null;
  }
  if (crv === 'Ed448') {
    if (bytes.length !== 57 || (bytes[56] & 0x7f) !== 0) return 'invalid-key-material';
    const y = littleEndian(bytes, 56);
    if (y >= P448) return 'invalid-key-material';
    return SMALL_ORDER_Y448.has(y) ? 'weak-eddsa-key' : null;
  }
  return null;
}
