// Inside an appliance's worker: its connections. Peer connections are MessagePorts straight to
// the other appliance's worker (PortSocket, a FramedSocket for PeerLinkTransport); client and
// console sessions from the page's SDK come through the page as text frames
// (PageClientConnection). A paused node holds what it receives; every frame sent is counted
// for the picture's dots.

import type { ClientConnection, FramedSocket } from '../host/transport/transport.ts';
import type { WorkerToPage } from './messages.ts';

const scope = globalThis as unknown as {
  postMessage(message: WorkerToPage, transfer?: Transferable[]): void;
};
export const post = (message: WorkerToPage, transfer?: Transferable[]): void =>
  scope.postMessage(message, transfer);

/** Frames a peer connection carries: a sealed frame, or the other end's close. */
type PortMessage = Uint8Array | { close: number; reason: string };

/** At most this many frames per report (a picture does not need more). */
const FLIGHTS_REPORTED_MAX = 1000;
/** Frames held for a paused node, at most (older ones are dropped, as a full socket buffer would). */
const HELD_FRAMES_MAX = 4096;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** Open peer connections. */
export const sockets = new Set<PortSocket>();
/** Open client and console sessions, by the page's connection number. */
export const clients = new Map<number, PageClientConnection>();
/** Frames sent since the last report, as [peer, bytes] pairs. */
let flights: number[] = [];
/** While paused: received frames wait here. */
let holding = false;
const held: (() => void)[] = [];

/** The frames sent since the last call, as [peer, bytes] pairs. */
export function takeFlights(): number[] {
  const sent = flights;
  flights = [];
  return sent;
}

/** Pause (hold every frame received) or resume (deliver them in order). */
export function hold(on: boolean): void {
  holding = on;
  if (!holding) for (const deliver of held.splice(0)) deliver();
}

/** One end of a peer connection: a MessagePort straight to the other appliance's worker. */
export class PortSocket implements FramedSocket {
  closed = false;
  private frameHandler: ((frame: Uint8Array) => void) | undefined;
  private closeHandler: ((code: number, reason: string) => void) | undefined;
  constructor(
    private readonly port: MessagePort,
    readonly peer: number,
  ) {
    sockets.add(this);
    port.onmessage = (event: MessageEvent<PortMessage>) => {
      if (!holding) return this.receive(event.data);
      if (held.length >= HELD_FRAMES_MAX) held.shift();
      held.push(() => this.receive(event.data));
    };
  }
  private receive(message: PortMessage): void {
    if (message instanceof Uint8Array) {
      if (!this.closed) this.frameHandler?.(message);
    } else this.shut(message.close, message.reason);
  }
  send(frame: Uint8Array, onWritten?: () => void): void {
    if (this.closed) return;
    const copy = frame.slice();
    this.port.postMessage(copy, [copy.buffer]);
    if (flights.length < FLIGHTS_REPORTED_MAX) flights.push(this.peer, copy.byteLength);
    if (onWritten) queueMicrotask(onWritten);
  }
  bufferedBytes(): number {
    return 0;
  }
  close(code: number, reason: string): void {
    if (this.closed) return;
    this.port.postMessage({ close: code, reason } satisfies PortMessage);
    this.shut(code, reason);
  }
  /** Ends this side: no more frames either way; the transport hears of it once. */
  shut(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    sockets.delete(this);
    this.port.close();
    queueMicrotask(() => this.closeHandler?.(code, reason));
  }
  onFrame(handler: (frame: Uint8Array) => void): void {
    this.frameHandler = handler;
  }
  onClose(handler: (code: number, reason: string) => void): void {
    this.closeHandler = handler;
  }
}

/** Where a page session's frames go: through the page, or over a port of its own. */
interface SessionOut {
  frame(text: string): void;
  close(code: number, reason: string): void;
}

/** A client or console session opened by the page: its text frames go through the page
 * (`cframe`), or over a MessagePort of its own (`cport`: a client off the page's thread, as
 * bench:web's writers are). */
export class PageClientConnection implements ClientConnection {
  readonly remoteAddress = 'page';
  private closed = false;
  private messageHandler: ((bytes: Uint8Array) => void) | undefined;
  private closeHandler: ((code: number, reason: string) => void) | undefined;
  private constructor(
    readonly path: '/client' | '/console',
    private readonly out: SessionOut,
    private readonly forget: () => void,
  ) {}

  /** A session whose frames go through the page, as connection `conn`. */
  static viaPage(conn: number, path: '/client' | '/console'): PageClientConnection {
    const connection = new PageClientConnection(
      path,
      {
        frame: (text) => post({ t: 'cframe', conn, text }),
        close: (code, reason) => post({ t: 'cclose', conn, code, reason }),
      },
      () => clients.delete(conn),
    );
    clients.set(conn, connection);
    return connection;
  }

  /** A session over its own port: text frames, or `{ close, reason }` from the other end. */
  static viaPort(port: MessagePort): PageClientConnection {
    const connection = new PageClientConnection(
      '/client',
      {
        frame: (text) => port.postMessage(text),
        close: (code, reason) => port.postMessage({ close: code, reason }),
      },
      () => port.close(),
    );
    port.onmessage = (event: MessageEvent<string | { close: number; reason: string }>) => {
      if (typeof event.data === 'string') connection.deliver(event.data);
      else connection.shut(event.data.close, event.data.reason);
    };
    return connection;
  }

  send(bytes: Uint8Array): void {
    if (!this.closed) this.out.frame(decoder.decode(bytes));
  }
  bufferedBytes(): number {
    return 0;
  }
  onMessage(handler: (bytes: Uint8Array) => void): void {
    this.messageHandler = handler;
  }
  onClose(handler: (code: number, reason: string) => void): void {
    this.closeHandler = handler;
  }
  close(code = 1000, reason = ''): void {
    if (this.closed) return;
    this.out.close(code, reason);
    this.shut(code, reason);
  }
  shut(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.forget();
    this.closeHandler?.(code, reason);
  }
  deliver(text: string): void {
    if (!this.closed) this.messageHandler?.(encoder.encode(text));
  }
}
