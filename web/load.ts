// bench:web's write load, run inside the page: `writers` SDK clients (spread over the nodes)
// create keys for `seconds`, while the picture records every frame's timestamp. The bench
// (bench/web.ts) turns the timestamps into frames/s; nothing here judges the time.

import { HsmClient } from '../host/client/client.ts';
import { CODE, HsmError } from '../host/core/codes.ts';
import type { Picture } from './picture.ts';
import type { ShownPool } from './view.ts';

export interface LoadResult {
  readonly commits: number;
  /** Failed calls by return code. */
  readonly failures: Record<number, number>;
  /** requestAnimationFrame timestamps of every frame drawn during the load. */
  readonly frames: number[];
  readonly ms: number;
}

export async function load(
  pool: ShownPool,
  picture: Picture,
  seconds: number,
  writers: number,
): Promise<LoadResult> {
  const clients = await Promise.all(
    Array.from({ length: writers }, (_, w) =>
      HsmClient.connect({
        nodes: [pool.nodes[w % pool.nodes.length].address],
        user: 'admin',
        password: pool.password,
        connections: pool.connections,
      }),
    ),
  );
  const recording = picture.record();
  const began = performance.now();
  const end = began + seconds * 1000;
  let commits = 0;
  const failures: Record<number, number> = {};
  await Promise.all(
    clients.map(async (client, w) => {
      for (let i = 0; performance.now() < end; i++) {
        try {
          await client.generateKey(`load-${w}-${i}-${Math.round(began)}`, 'hmac-sha256');
          commits++;
        } catch (error) {
          const number = error instanceof HsmError ? error.code : CODE.OPERATION_FAILED;
          failures[number] = (failures[number] ?? 0) + 1;
        }
      }
    }),
  );
  const frames = recording.stop();
  for (const client of clients) client.close();
  return { commits, failures, frames, ms: performance.now() - began };
}
