// One node of the client's list: its connection, its logged-in session (SCRAM), the requests in
// flight on it, and whether it is considered down. A broken connection fails every request in
// flight with NET_CONNECTION_LOST; a request without a reply in time fails with NET_TIMEOUT and
// drops the connection (a late reply must not be mistaken for a new one's).

import { CODE, HsmError } from '../core/codes.ts';
import { keyBytes, type CryptoEngine, type KeyBytes } from '../wire/crypto-engine.ts';
import { toBase64 } from '../wire/bytes.ts';
import {
  FRAME_SIZE_MAX,
  type RequestType,
  type ResponseFrame,
  type ResultOf,
  type ServiceRequest,
  type ServiceResponse,
} from '../wire/messages.ts';
import { ScramClient, saltPassword, type KdfLimits } from '../wire/scram.ts';
import { SessionChannel } from '../wire/session-channel.ts';
import type { ConnectionFactory, FrameConnection } from './connection.ts';

/** Requests one connection may have in flight. */
export const IN_FLIGHT_MAX = 256;

export interface Credentials {
  readonly user: string;
  readonly password: string;
}

/** What every link of one client shares. */
export interface LinkEnvironment {
  readonly connections: ConnectionFactory;
  readonly credentials: Credentials;
  readonly kdfLimits: KdfLimits;
  readonly requestTimeoutMs: number;
  readonly engine: CryptoEngine;
  readonly randomBytes: (length: number) => Uint8Array;
  /** SaltedPassword by salt and parameters: every node holds the same verifier, so hash once per client. */
  readonly saltedPasswords: Map<string, Promise<Uint8Array>>;
}

interface Waiting {
  readonly resolve: (response: ServiceResponse) => void;
  readonly reject: (error: HsmError) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

/** A logged-in session on the link's current connection. */
export interface LinkSession {
  readonly connection: FrameConnection;
  readonly sessionKey: KeyBytes;
  /** Counts sessions on this link: a temporary key belongs to one. */
  readonly generation: number;
}

/** A failure of the node or the way to it (not an answer): the client tries another node. */
export function isNodeFailure(error: unknown): error is HsmError {
  return (
    error instanceof HsmError &&
    (error.code < 0 || error.code === CODE.PROTOCOL_ERROR || NODE_STALE_CODES.has(error.code))
  );
}

/** A fenced or diverged node refuses logins and reads: its state may be stale, another node's is not. */
export const NODE_STALE_CODES: ReadonlySet<number> = new Set([
  CODE.NODE_FENCED_NO_READS,
  CODE.NODE_DIVERGED,
]);

export class NodeLink {
  private session: Promise<LinkSession> | undefined;
  private connection: FrameConnection | undefined;
  /** The sealed channel of the current connection, once logged in (session-channel.ts). */
  private channel: SessionChannel | undefined;
  private readonly waiting = new Map<number, Waiting>();
  private nextFrameId = 1;
  private generation = 0;
  /** Until when (client clock, ms) this node is skipped after a failure. */
  downUntilMs = 0;

  constructor(
    readonly address: string,
    private readonly environment: LinkEnvironment,
  ) {}

  /** The logged-in session, connecting and logging in if there is none. */
  open(): Promise<LinkSession> {
    if (!this.session) {
      const session = this.connectAndLogin();
      this.session = session;
      session.catch(() => {
        if (this.session === session) this.session = undefined;
      });
    }
    return this.session;
  }

  /** Sends one request on the current session's connection and waits for its response. */
  request<T extends RequestType>(
    session: LinkSession,
    request: ServiceRequest,
  ): Promise<ServiceResponse<T>> {
    if (session.connection !== this.connection)
      return Promise.reject(
        new HsmError(CODE.NET_CONNECTION_LOST, `${this.address}: session ended`),
      );
    return this.send(session.connection, request) as Promise<ServiceResponse<T>>;
  }

  /** Forgets the session (expired on the node): the next open() logs in again. */
  endSession(): void {
    this.drop('session ended');
  }

  close(): void {
    this.drop('client closed');
  }

  private async connectAndLogin(): Promise<LinkSession> {
    const connection = await this.connect();
    try {
      const sessionKey = await this.login(connection);
      return { connection, sessionKey, generation: ++this.generation };
    } catch (error) {
      if (this.connection === connection) this.drop('login failed');
      throw error;
    }
  }

  private async connect(): Promise<FrameConnection> {
    let connection: FrameConnection;
    try {
      connection = await this.environment.connections.open(this.address);
    } catch (error) {
      if (error instanceof HsmError) throw error;
      throw new HsmError(
        CODE.NET_CONNECT_FAILED,
        `${this.address}: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    this.connection = connection;
    connection.listen({
      frame: (text) => this.receive(connection, text),
      closed: (reason) => {
        if (this.connection === connection) this.drop(reason);
      },
    });
    return connection;
  }

  private async login(connection: FrameConnection): Promise<KeyBytes> {
    const { credentials, kdfLimits, engine } = this.environment;
    const scram = new ScramClient(credentials.user, toBase64(this.environment.randomBytes(18)));
    const start = await this.call(connection, {
      type: 'login.start',
      clientFirst: scram.clientFirst,
    });
    const parameters = scram.receiveServerFirst(start.serverFirst, kdfLimits);
    const cacheKey = `${toBase64(parameters.salt)} ${JSON.stringify(parameters.kdf)}`;
    let salted = this.environment.saltedPasswords.get(cacheKey);
    if (!salted) {
      salted = saltPassword(engine, credentials.password, parameters.salt, parameters.kdf);
      this.environment.saltedPasswords.set(cacheKey, salted);
    }
    const finish = await this.call(connection, {
      type: 'login.finish',
      clientFinal: scram.clientFinal(await salted),
    });
    const sessionKey = scram.receiveServerFinal(finish.serverFinal);
    // The node seals every frame after its login.finish reply; so do we from now on.
    if (this.connection === connection)
      this.channel = new SessionChannel(sessionKey, 'client', engine.chacha);
    return keyBytes(sessionKey);
  }

  private async call<T extends 'login.start' | 'login.finish'>(
    connection: FrameConnection,
    request: ServiceRequest & { type: T },
  ): Promise<ResultOf<T>> {
    const response = await this.send(connection, request);
    if (response.code !== 0)
      throw new HsmError(response.code, 'message' in response ? response.message : undefined);
    return (response as { result: ResultOf<T> }).result;
  }

  private send(connection: FrameConnection, request: ServiceRequest): Promise<ServiceResponse> {
    if (this.waiting.size >= IN_FLIGHT_MAX)
      return Promise.reject(
        new HsmError(CODE.SERVER_BUSY, `${IN_FLIGHT_MAX} requests in flight on ${this.address}`),
      );
    const id = this.nextFrameId++;
    const frame = JSON.stringify({ id, request });
    if (frame.length > FRAME_SIZE_MAX)
      return Promise.reject(
        new HsmError(
          CODE.INPUT_TOO_LARGE,
          `the request frame has ${frame.length} characters (at most ${FRAME_SIZE_MAX})`,
        ),
      );
    return new Promise<ServiceResponse>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(
          new HsmError(
            CODE.NET_TIMEOUT,
            `${this.address}: no reply in ${this.environment.requestTimeoutMs} ms`,
          ),
        );
        if (this.connection === connection) this.drop('timeout');
      }, this.environment.requestTimeoutMs);
      this.waiting.set(id, { resolve, reject, timer });
      connection.send(this.channel ? this.channel.seal(frame) : frame);
    });
  }

  private receive(connection: FrameConnection, wire: string): void {
    if (this.connection !== connection) return;
    let text = wire;
    if (this.channel) {
      try {
        text = this.channel.open(wire);
      } catch (error) {
        // Read, altered, replayed or injected on the way: nothing more on this connection is
        // trusted. What waits may have run on the node, so its outcome is unknown.
        this.drop(`${this.address}: ${(error as HsmError).message}`);
        return;
      }
    }
    const frame = parseResponseFrame(text);
    const waiting = frame && frame.id !== null ? this.waiting.get(frame.id) : undefined;
    if (!frame || !waiting) {
      // Nothing to pair it with: the node and the SDK disagree, so nothing on this connection can be trusted.
      this.drop(
        `unexpected frame from ${this.address}`,
        new HsmError(CODE.PROTOCOL_ERROR, `${this.address} sent an unexpected frame`),
      );
      return;
    }
    this.waiting.delete(frame.id!);
    clearTimeout(waiting.timer);
    waiting.resolve(frame.response);
  }

  /** Closes the connection and fails what waits on it. */
  private drop(
    reason: string,
    error = new HsmError(CODE.NET_CONNECTION_LOST, `${this.address}: ${reason}`),
  ): void {
    const connection = this.connection;
    this.connection = undefined;
    this.channel = undefined;
    this.session = undefined;
    connection?.close();
    for (const waiting of this.waiting.values()) {
      clearTimeout(waiting.timer);
      waiting.reject(error);
    }
    this.waiting.clear();
  }
}

function parseResponseFrame(text: string): ResponseFrame | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { id, response } = value as { id?: unknown; response?: unknown };
  if (
    !(id === null || Number.isSafeInteger(id)) ||
    typeof response !== 'object' ||
    response === null
  )
    return undefined;
  const reply = response as { code?: unknown; result?: unknown; message?: unknown };
  if (!Number.isInteger(reply.code)) return undefined;
  if (
    reply.code === 0
      ? typeof reply.result !== 'object' || reply.result === null
      : typeof reply.message !== 'string'
  )
    return undefined;
  return { id: id as number | null, response: response as ServiceResponse };
}
