import type { KeySetState } from '../cache/key-set.state.js';
import type { KeySetId, KeySetStore } from './key-set.store.js';

/** The map key of a key set: issuer and location, separated by a character neither can hold. */
export function keySetKey(id: KeySetId): string {
  return `${id.issuer}\n${id.jwksUri ?? ''}`;
}

/**
 * The default store: the last saved state of each key set in this process's memory. It persists
 * nothing across a restart and pushes nothing: the source's own memory is the key set.
 */
export class MemoryKeySetStore implements KeySetStore {
  private readonly states = new Map<string, KeySetState>();

  load(id: KeySetId): Promise<KeySetState | null> {
    return Promise.resolve(this.states.get(keySetKey(id)) ?? null);
  }

  save(id: KeySetId, state: KeySetState): Promise<void> {
    this.states.set(keySetKey(id), state);
    return Promise.resolve();
  }

  /** Forget a key set (its issuer was removed), so a removed tenant leaves nothing behind. */
  delete(id: KeySetId): void {
    this.states.delete(keySetKey(id));
  }
}
