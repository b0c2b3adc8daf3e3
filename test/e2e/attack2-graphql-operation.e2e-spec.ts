/**
 * Attack 2: one verification per GraphQL operation, reused across its guarded fields while
 * `JwtVerifier.stillValid` holds. Mutations run serially, so a mutation can change the world
 * (clock, revocation, issuers) before the next guarded field of the same operation.
 */
import { Inject, UseGuards } from '@nestjs/common';
import { Args, Int, Mutation, Query, Resolver } from '@nestjs/graphql';
import { CurrentUser, JWKS_CLOCK, JwksAuthGuard, JwksAuthModule, JwksCacheService, Public } from '../../lib';
import { FakeClock, TestIssuer } from '../../lib/testing';
import { issuerOptions } from '../fixtures/app';
import { bootGraphqlApp } from '../fixtures/transports/graphql-grants.resolver';

@Resolver()
@UseGuards(JwksAuthGuard)
class OperationResolver {
  constructor(
    @Inject(JWKS_CLOCK) private readonly clock: FakeClock,
    private readonly cache: JwksCacheService,
  ) {}

  @Query(() => String, { nullable: true })
  who(@CurrentUser('sub') sub: string): string {
    return sub;
  }

  @Public()
  @Query(() => String, { nullable: true })
  publicWho(@CurrentUser('sub') sub: string | undefined): string | null {
    return sub ?? null;
  }

  @Mutation(() => String, { nullable: true })
  me(@CurrentUser('sub') sub: string): string {
    return sub;
  }

  @Public()
  @Mutation(() => String, { nullable: true })
  publicMe(@CurrentUser('sub') sub: string | undefined): string | null {
    return sub ?? null;
  }

  @Mutation(() => Boolean)
  tick(@Args('seconds', { type: () => Int }) seconds: number): boolean {
    this.clock.advance(seconds * 1000);
    return true;
  }

  @Mutation(() => Boolean)
  revoke(@Args('kid') kid: string): boolean {
    this.cache.revokeKey(kid);
    return true;
  }

  @Mutation(() => Boolean)
  async dropIssuer(@Args('iss') iss: string): Promise<boolean> {
    return this.cache.removeIssuer(iss);
  }
}

type GqlBody = { data?: Record<string, unknown> | null; errors?: { path?: string[]; extensions?: { code?: string } }[] };

async function post(url: string, token: string | undefined, body: unknown): Promise<GqlBody | GqlBody[]> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body) });
  return (await res.json()) as GqlBody;
}
const codeAt = (body: GqlBody, field: string) => body.errors?.find((e) => e.path?.[0] === field)?.extensions?.code;

describe('attack2: GraphQL per-operation verification', () => {
  let issuer: TestIssuer;
  let clock: FakeClock;
  let url: string;
  let close: () => Promise<void>;
  beforeEach(async () => {
    clock = new FakeClock(Date.now());
    issuer = await TestIssuer.start({ clock });
    const booted = await bootGraphqlApp([JwksAuthModule.forRoot(issuerOptions(issuer, { issuers: undefined } as never))], {
      providers: [OperationResolver],
      clock,
      graphql: { allowBatchedHttpRequests: true, subscriptions: undefined },
    });
    url = booted.url;
    close = async () => {
      await booted.app.close();
      await issuer.close();
    };
  });
  afterEach(async () => {
    await close();
  });

  it('a token that expires between two serial mutations is refused for the second', async () => {
    const token = issuer.sign({ sub: 'ann' }, { expiresInSec: 60 });
    const body = (await post(url, token, { query: 'mutation { a: me t: tick(seconds: 120) b: me }' })) as GqlBody;
    expect(body.data?.a).toBe('ann');
    expect(codeAt(body, 'b')).toBe('UNAUTHENTICATED');
  });

  it('a key revoked by an earlier mutation refuses the later fields of the same operation', async () => {
    const token = issuer.sign({ sub: 'ann' });
    const body = (await post(url, token, { query: `mutation { a: me r: revoke(kid: "${issuer.kid}") b: me }` })) as GqlBody;
    expect(body.data?.a).toBe('ann');
    expect(codeAt(body, 'b')).toBe('UNAUTHENTICATED');
  });

  it('an issuer removed by an earlier mutation refuses the later fields of the same operation', async () => {
    const token = issuer.sign({ sub: 'ann' });
    const body = (await post(url, token, { query: `mutation { a: me r: dropIssuer(iss: "${issuer.issuer}") b: me }` })) as GqlBody;
    expect(body.data?.a).toBe('ann');
    expect(codeAt(body, 'b')).not.toBeUndefined();
    expect(body.data?.b ?? null).toBeNull();
  });

  it('a @Public field after a refusal in the same operation does not see the refused token user', async () => {
    const token = issuer.sign({ sub: 'ann' }, { expiresInSec: 60 });
    const body = (await post(url, token, { query: 'mutation { a: me t: tick(seconds: 120) b: me c: publicMe }' })) as GqlBody;
    expect(codeAt(body, 'b')).toBe('UNAUTHENTICATED');
    // On WebSockets a refusal takes the user back (forgetUser); here the @Public field still sees it.
    expect(body.data?.c ?? null).toBeNull();
  });

  it('batched operations (one HTTP request, two users impossible): each is verified, none leaks', async () => {
    const token = issuer.sign({ sub: 'ann' });
    const bodies = (await post(url, token, [{ query: '{ who }' }, { query: '{ publicWho }' }, { query: '{ a: who b: who c: who }' }])) as GqlBody[];
    expect(bodies.map((b) => b.data)).toEqual([{ who: 'ann' }, { publicWho: 'ann' }, { a: 'ann', b: 'ann', c: 'ann' }]);
    const anon = (await post(url, undefined, [{ query: '{ publicWho }' }, { query: '{ who }' }])) as GqlBody[];
    expect(anon[0].data).toEqual({ publicWho: null });
    expect(codeAt(anon[1], 'who')).toBe('UNAUTHENTICATED');
  });

  it('a refused token is not remembered as verified for a later field (bad token, then same bad token)', async () => {
    const bad = issuer.sign({ sub: 'ann' }, { expiresInSec: -10 });
    const body = (await post(url, bad, { query: '{ a: who b: who }' })) as GqlBody;
    expect(codeAt(body, 'a')).toBe('UNAUTHENTICATED');
    expect(codeAt(body, 'b')).toBe('UNAUTHENTICATED');
  });
});
