// Storage in simulated time: every storage call of a running node completes after a seeded
// delay (DelayedStorage asks `delay()`), and `pump(now)` completes those due, in time and
// call order. What a node's awaits do is therefore modelled: it receives and decides while
// its writes are under way, as a real node does.

import { nextTurn } from '../log/next-turn.ts';

/** Lets every pending microtask run (a storage call's caller resumes up to its next call). */
export type Settle = () => Promise<void>;

export const settleDefault: Settle = nextTurn;

/** A storage call of a node, completing at simulated time `at` (then in call order). */
interface StorageEvent {
  readonly at: number;
  readonly order: number;
  readonly complete: () => void;
}

export class StorageClock {
  private readonly events: StorageEvent[] = [];
  private order = 0;

  constructor(private readonly settle: Settle) {}

  /** No storage call pending. */
  get idle(): boolean {
    return this.events.length === 0;
  }

  /** A storage call's delay: resolves once `pump` reaches time `at`. */
  delay(at: number): Promise<void> {
    return new Promise((complete) => this.events.push({ at, order: this.order++, complete }));
  }

  /** Completes the storage calls due by `now`, in time and call order, letting each caller
   * resume (and make its next call, due now or later) before the next completes. */
  async pump(now: number): Promise<void> {
    await this.settle();
    for (;;) {
      let next = -1;
      this.events.forEach((event, i) => {
        if (event.at > now) return;
        const best = this.events[next];
        if (next < 0 || event.at < best.at || (event.at === best.at && event.order < best.order))
          next = i;
      });
      if (next < 0) return;
      const [event] = this.events.splice(next, 1);
      event.complete();
      await this.settle();
    }
  }
}
