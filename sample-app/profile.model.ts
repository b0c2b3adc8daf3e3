import { Field, Int, ObjectType } from '@nestjs/graphql';

/** The caller, as the verified access token describes them. */
@ObjectType({ description: 'The caller, as the verified access token describes them' })
export class Profile {
  @Field(() => String, { description: "The token's subject" })
  sub!: string;

  @Field(() => [String], { description: 'Scopes the token grants (its `scope` claim, split on spaces)' })
  scopes!: string[];
}

/** A summary of the key set the API verifies tokens with. */
@ObjectType({ description: 'The key set the API verifies tokens with' })
export class KeySet {
  @Field(() => String, { description: 'fresh, stale, failed…' })
  phase!: string;

  @Field(() => Int)
  keyCount!: number;

  @Field(() => [String], { description: 'Kids refused until restored' })
  revokedKids!: string[];
}
