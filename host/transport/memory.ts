// The in-process transport: a hub of addresses joined by in-memory socket pairs, for tests and
// the pool the browser page runs. It runs the very peer links of the WebSocket transport
// (handshake, sealing, queues, backoff, cross check) over pipes instead of sockets, so the page
// shows the real thing (an SVMK mismatch is refused here too) and tests need no ports.
// Delivery is asynchronous (a microtask) and in order per connection, as over TCP.
// Browser-safe.

import { CODE, HsmError } from '../core/codes.ts';
import type { NodeId } from '../protocol/types.ts';
import type { ChaChaAead } from '../wire/crypto-engine.ts';
import type { PeerLinkLimits } from './peer-link-limits.ts';
import { PeerLinkTransport } from './peer-link.ts';
import { CLOSE_CODES, type FramedSocket } from './transport.ts';

/** One end of an in-memory connection. */
export interface MemorySocket extends FramedSocket {
  /** Which address this end belongs to (the hub cuts links by address). */
  readonly address: string;
  readonly closed: boolean;
}

/** Two connected ends (dialer first), e.g. to drive peer links in a test without a hub. */
export function createSocketPair(
  dialerAddress = 'dialer',
  listenerAddress = 'listener',
): [MemorySocket, MemorySocket] {
  const dialer = createEnd(dialerAddress);
  const listener = createEnd(listenerAddress);
  dialer.other = listener;
  listener.other = dialer;
  return [dialer, listener];
}

interface EndState extends MemorySocket {
  other: EndState | undefined;
  closed: boolean;
  frameHandler: ((frame: Uint8Array) => void) | undefined;
  closeHandler: ((code: number, reason: string) => void) | undefined;
  /** Close this end now and the other in order after any frames already sent to it. */
  shut(code: number, reason: string): void;
}

function createEnd(address: string): EndState {
  const end: EndState = {
    address,
    other: undefined,
    closed: false,
    frameHandler: undefined,
    closeHandler: undefined,
    send(frame, onWritten) {
      if (end.closed) return;
      const copy = frame.slice(); // the receiver must not see later changes to the sender's buffer
      const receiver = end.other!;
      queueMicrotask(() => {
        if (!receiver.closed) receiver.frameHandler?.(copy);
      });
      if (onWritten !== undefined) queueMicrotask(onWritten);
    },
    bufferedBytes: () => 0,
    close(code, reason) {
      end.shut(code, reason);
    },
    shut(code, reason) {
      if (end.closed) return;
      end.closed = true;
      const other = end.other!;
      queueMicrotask(() => end.closeHandler?.(code, reason));
      queueMicrotask(() => {
        if (other.closed) return;
        other.closed = true;
        other.closeHandler?.(code, reason);
      });
    },
    onFrame(handler) {
      end.frameHandler = handler;
    },
    onClose(handler) {
      end.closeHandler = handler;
    },
  };
  return end;
}

/** Addresses in one process, and the connections between them. */
export class MemoryHub {
  private readonly listeners = new Map<string, (socket: FramedSocket) => void>();
  private readonly isolated = new Set<string>();
  private readonly connections = new Set<{
    readonly dialer: MemorySocket;
    readonly listener: MemorySocket;
  }>();

  /** Accept connections at `address`; returns the function that stops listening. */
  listen(address: string, accept: (socket: FramedSocket) => void): () => void {
    if (this.listeners.has(address)) throw new RangeError(`listen: ${address} is in use`);
    this.listeners.set(address, accept);
    return () => {
      if (this.listeners.get(address) === accept) this.listeners.delete(address);
    };
  }

  dial(fromAddress: string, toAddress: string): Promise<FramedSocket> {
    const accept = this.listeners.get(toAddress);
    if (accept === undefined || this.isolated.has(toAddress) || this.isolated.has(fromAddress)) {
      return Promise.reject(
        new HsmError(CODE.CANNOT_P2P_CONNECT, `nothing reachable listens at ${toAddress}`),
      );
    }
    for (const connection of [...this.connections])
      if (connection.dialer.closed) this.connections.delete(connection);
    const [dialer, listener] = createSocketPair(fromAddress, toAddress);
    this.connections.add({ dialer, listener });
    accept(listener);
    return Promise.resolve(dialer);
  }

  /** Cut an address off (a pulled cable): its connections drop (1006) and dials to or from it
   * fail until it is joined again. */
  setIsolated(address: string, isolated: boolean): void {
    if (!isolated) {
      this.isolated.delete(address);
      return;
    }
    this.isolated.add(address);
    for (const connection of [...this.connections]) {
      if (connection.dialer.address === address || connection.listener.address === address) {
        this.connections.delete(connection);
        connection.dialer.close(CLOSE_CODES.ABNORMAL, 'isolated');
      }
    }
  }
}

export interface MemoryTransportOptions {
  readonly hub: MemoryHub;
  readonly nodeId: NodeId;
  /** Where this node listens in the hub (any unique string, e.g. "10.0.0.1:7001"). */
  readonly address: string;
  readonly svmk: Uint8Array;
  readonly randomBytes?: (length: number) => Uint8Array;
  readonly random?: () => number;
  readonly limits?: Partial<PeerLinkLimits>;
  /** The frame AEAD (default noble's; Node may pass NODE_CHACHA, as ws.node.ts does). */
  readonly aead?: ChaChaAead;
}

/** A PeerTransport whose connections run through a MemoryHub. */
export class MemoryTransport extends PeerLinkTransport {
  private readonly unlisten: () => void;

  constructor(options: MemoryTransportOptions) {
    const { hub, address, ...rest } = options;
    super({ ...rest, dial: (to) => hub.dial(address, to) });
    this.unlisten = hub.listen(address, (socket) => this.accept(socket));
  }

  override async close(): Promise<void> {
    this.unlisten();
    await super.close();
  }
}
