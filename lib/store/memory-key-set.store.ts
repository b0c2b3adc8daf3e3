import type { KeySetState } from '../cache/key-set.state.js';
import type { KeySetStore } from './key-set.store.js';

/**
 * The default store: the last saved state in this process's memory. It persists nothing across a
 * restart and pushes nothing: the source's own memory is the key set.
 */
export class MemoryKeySetStore implements KeySetStore {
  private state: KeySetState | null = null;

  load(): Promise<KeySetState | null> {
    return Promise.resolve(this.state);
  }

  save(state: KeySetState): Promise<void> {
    this.state = state;
    return Promise.resolve();
  }
}
