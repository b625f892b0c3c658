// Who answers at an address: a peer handshake that stops once both ends proved the SVMK, then
// closes. Live-sync uses it to check a donor before anything changes (and to learn its id from
// HOST:PORT alone, with the ANY_NODE wildcard); discovery uses it to find pool nodes.
// Browser-safe: the caller supplies the dialer.

import { ANY_NODE, SecureChannel } from './secure-channel.ts';
import type { FramedSocket } from './transport.ts';
import type { NodeId } from '../protocol/types.ts';
import { CODE } from '../core/codes.ts';

/** How long a probe waits for the handshake. */
export const PROBE_TIMEOUT_MS = 5000;

/** The close code a responder sends when the initiator's proof fails (docs/TRANSPORT.md). */
const CLOSE_SVMK_MISMATCH = 4306;

export interface ProbeOptions {
  readonly address: string;
  /** The node expected there; ANY_NODE (the default) learns whichever node answers. */
  readonly expectedId?: NodeId;
  /** The id this end presents (the responder refuses its own id and the wildcard). */
  readonly localId: NodeId;
  readonly svmk: Uint8Array;
  readonly randomBytes: (length: number) => Uint8Array;
  readonly dial: (address: string) => Promise<FramedSocket>;
  readonly timeoutMs?: number;
}

/** 0 and the node's id, or the code of the failure: 37034 nothing answers, 5306 another SVMK,
 * 38604 another node than expected, 37002/38602 a broken handshake. */
export type ProbeResult =
  { readonly code: 0; readonly id: NodeId } | { readonly code: number; readonly id?: undefined };

export async function probePeer(options: ProbeOptions): Promise<ProbeResult> {
  let socket: FramedSocket;
  try {
    socket = await options.dial(options.address);
  } catch {
    return { code: CODE.SELF_LIVE_SYNC };
  }
  return new Promise<ProbeResult>((resolve) => {
    const channel = new SecureChannel({
      role: 'initiator',
      localId: options.localId,
      peerId: options.expectedId ?? ANY_NODE,
      svmk: options.svmk,
      randomBytes: options.randomBytes,
    });
    let done = false;
    const finish = (result: ProbeResult): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.close(1000, 'probe');
      resolve(result);
    };
    const timer = setTimeout(
      () => finish({ code: CODE.SELF_LIVE_SYNC }),
      options.timeoutMs ?? PROBE_TIMEOUT_MS,
    );
    socket.onFrame((frame) => {
      const step = channel.receive(frame);
      for (const out of step.frames) socket.send(out);
      if (step.error) finish({ code: step.error.code });
      // After REPLY the responder has proved the SVMK and named itself: that is all we need.
      else if (channel.state === 'awaiting-accept' || channel.state === 'open')
        finish({ code: 0, id: channel.peerId! });
    });
    socket.onClose((code) =>
      finish({ code: code === CLOSE_SVMK_MISMATCH ? CODE.SVMK_MISMATCH : CODE.SELF_LIVE_SYNC }),
    );
    for (const out of channel.start().frames) socket.send(out);
  });
}
