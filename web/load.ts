// bench:web's write load, driven from the page: `writers` SDK clients (spread over the
// appliances) create keys for `seconds` in a worker of their own (load-worker.ts), while the
// picture records every frame's timestamp. The bench (bench/web.ts) turns the timestamps into
// frames/s; nothing here judges the time.

import type { LoadAnswer } from './load-worker.ts';
import type { Picture } from './picture.ts';
import type { TabPool } from './tab-pool.ts';

export interface LoadResult extends LoadAnswer {
  /** requestAnimationFrame timestamps of every frame drawn during the load. */
  readonly frames: number[];
}

export async function load(
  pool: TabPool,
  picture: Picture,
  seconds: number,
  writers: number,
): Promise<LoadResult> {
  const ports = Array.from({ length: writers }, (_, w) => pool.clientPort(w % pool.nodes.length));
  const worker = new Worker(pool.workerUrl, { type: 'module', name: 'bench-writers' });
  const answer = new Promise<LoadAnswer>((resolve, reject) => {
    worker.onmessage = (event: MessageEvent<LoadAnswer | { error: string }>) =>
      'error' in event.data ? reject(new Error(event.data.error)) : resolve(event.data);
    worker.onerror = (event) => reject(new Error(event.message));
  });
  const recording = picture.record();
  worker.postMessage({ t: 'load', seconds, password: pool.password, ports }, ports);
  try {
    return { ...(await answer), frames: recording.stop() };
  } finally {
    recording.stop();
    worker.terminate();
  }
}
