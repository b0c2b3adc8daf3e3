/**
 * Checked by `npm run lint` (tsc), not run: the facade and the drop-in fit where code written
 * against jwks-rsa and passport-jwt expects theirs.
 */
import type { JwksClient, SigningKey } from 'jwks-rsa';
import type { SecretOrKeyProvider, StrategyOptionsWithoutRequest } from 'passport-jwt';
import type { JwksClientFacade, JwksSigningKey, PassportJwtSecretProvider } from '../../lib';

declare const facade: JwksClientFacade;
declare const provider: PassportJwtSecretProvider;

export const asJwksClient: JwksClient = facade;
export const asSigningKey: SigningKey = null as unknown as JwksSigningKey;
export const asSecretOrKeyProvider: SecretOrKeyProvider = provider;
export const asStrategyOptions: StrategyOptionsWithoutRequest = { secretOrKeyProvider: provider, jwtFromRequest: () => null };

// The checks above can fail: a facade without getSigningKeys() is no JwksClient.
// @ts-expect-error getSigningKeys is missing
export const incomplete: JwksClient = null as unknown as Omit<JwksClientFacade, 'getSigningKeys'>;
