// What the SDK needs from a transport: open an address, get a duplex of text frames. The
// WebSocket transport implements it for real networks; memory-connection.ts connects straight
// to Service instances (tests, the in-page pool).

export interface FrameListener {
  /** One frame from the node (a JSON response frame, docs/CLIENT.md). */
  frame(text: string): void;
  /** The connection ended from the far side or the network (not after our own close()). */
  closed(reason: string): void;
}

export interface FrameConnection {
  /** Sends one frame. On a closed connection it does nothing: closed() has told, or will. */
  send(frame: string): void;
  close(): void;
  /** Set once, right after open and before the first send (the node never speaks first). */
  listen(listener: FrameListener): void;
}

export interface ConnectionFactory {
  /** Rejects when the address does not answer (an HsmError carrying the node's code, or any error). */
  open(address: string): Promise<FrameConnection>;
}
