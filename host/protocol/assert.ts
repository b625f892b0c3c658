// Assertions where the protocol's invariants live (TigerBeetle's habit): a broken invariant is a
// bug in this node, not a condition to handle. An AssertionFailure is fail-stop: no caller may
// catch it and go on; the appliance stops, the simulator fails the seed naming the reason.

/** A broken protocol invariant: the node must stop (never caught and continued). */
export class AssertionFailure extends Error {
  constructor(readonly reason: string) {
    super(`assertion failed: ${reason}`);
    this.name = 'AssertionFailure';
  }
}

export function assert(condition: unknown, reason: string): asserts condition {
  if (!condition) throw new AssertionFailure(reason);
}

/** Rethrows an AssertionFailure: for `catch` blocks that handle expected errors only. */
export function rethrowAssertion(error: unknown): void {
  if (error instanceof AssertionFailure) throw error;
}
