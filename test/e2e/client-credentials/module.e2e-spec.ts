import { Injectable, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { ClientCredentialsModule, ClientCredentialsService, JwksOptionsError } from '../../../lib';
import { TestIssuer } from '../../../lib/testing';
import { API, CLIENT_ID, CLIENT_SECRET } from './fixtures';

@Injectable()
class Settings {
  readonly clientSecret = CLIENT_SECRET;
}
@Module({ providers: [Settings], exports: [Settings] })
class SettingsModule {}

@Injectable()
class Consumer {
  constructor(readonly tokens: ClientCredentialsService) {}
}
@Module({ providers: [Consumer] })
class FeatureModule {}

describe('ClientCredentialsModule registration', () => {
  let issuer: TestIssuer;
  beforeAll(async () => {
    issuer = await TestIssuer.start();
    issuer.addClient({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
  });
  afterAll(async () => {
    await issuer.close();
  });

  it('forRoot with isGlobal: another module injects the service', async () => {
    const ref = await Test.createTestingModule({
      imports: [ClientCredentialsModule.forRoot({ isGlobal: true, issuer: issuer.issuer, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, audience: API, logging: false }), FeatureModule],
    }).compile();
    try {
      expect(typeof (await ref.get(Consumer).tokens.getToken())).toBe('string');
    } finally {
      await ref.close();
    }
  });

  it('forRootAsync with imports and inject', async () => {
    const ref = await Test.createTestingModule({
      imports: [
        ClientCredentialsModule.forRootAsync({
          imports: [SettingsModule],
          inject: [Settings],
          useFactory: (s: Settings) => ({ tokenEndpoint: issuer.tokenEndpoint, clientId: CLIENT_ID, clientSecret: s.clientSecret, logging: false }),
        }),
      ],
    }).compile();
    try {
      const res = await ref.get(ClientCredentialsService).getTokenResponse({ audience: API, scope: 'read:users' });
      expect(res).toMatchObject({ tokenType: 'Bearer', scope: 'read:users' });
    } finally {
      await ref.close();
    }
  });

  it('stops startup with every option mistake listed, and no secret in them', async () => {
    const err = await Test.createTestingModule({
      imports: [ClientCredentialsModule.forRoot({ tokenEndpoint: 'http://idp.example.test/oauth/token', clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, clientAuthentication: 'private_key_jwt', refreshMarginMs: -5 })],
    })
      .compile()
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(JwksOptionsError);
    expect((err as JwksOptionsError).problems).toHaveLength(3);
    expect((err as Error).message).not.toContain(CLIENT_SECRET);
  });
});
