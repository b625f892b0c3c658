// One turn of the event loop: resolves after the work queued now (timers, I/O callbacks, and
// every pending microtask) has had its chance to run. Used to break a long synchronous task
// into steps (a checkpoint ordering its frozen view), so that commits go on between them.

/** Resolves in a later macrotask (setImmediate in Node, setTimeout in a browser). */
export const nextTurn = (): Promise<void> =>
  new Promise((resolve) =>
    typeof setImmediate === 'function' ? setImmediate(resolve) : setTimeout(resolve, 0),
  );
