// Client sessions and the remote console on a running appliance. Each /client or /console
// connection gets a Service session (SCRAM login, then requests as JSON frames,
// docs/CLIENT.md). A /console connection also takes `console.run` frames, answered by the
// console command set for a logged-in administrator (5002 for anyone else).

import { HsmError } from '../core/codes.ts';
import { runCommand } from '../console/commands.ts';
import type { ServiceBackend } from '../service/backend.ts';
import type { Service } from '../service/service.ts';
import type { Session } from '../service/session.ts';
import type { ClientConnection, ClientPath } from '../transport/transport.ts';
import type { NodeHost } from './node-host.ts';

/** The service's backend over a node: reads from its key store, writes through the pool. Both
 * follow the node's current appliance (a live-sync in place replaces it). */
export function applianceBackend(
  node: NodeHost,
  svmk: Uint8Array,
  randomBytes: (length: number) => Uint8Array,
  now: () => number,
): ServiceBackend {
  return {
    get core() {
      return node.appliance.core;
    },
    svmk,
    submit: ({ kind: _kind, ...write }) => node.appliance.write(write),
    outcome: (requestId) => node.appliance.outcome(requestId),
    randomBytes,
    now,
  };
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

interface ConsoleFrame {
  readonly id: number;
  readonly line: string;
}

/** A `{"id", "request": {"type": "console.run", "line"}}` frame, or undefined. */
function consoleFrame(text: string): ConsoleFrame | undefined {
  if (!text.includes('"console.run"')) return undefined;
  try {
    const frame = JSON.parse(text) as {
      id?: unknown;
      request?: { type?: unknown; line?: unknown };
    };
    if (
      frame.request?.type !== 'console.run' ||
      typeof frame.request.line !== 'string' ||
      !Number.isSafeInteger(frame.id)
    )
      return undefined;
    return { id: frame.id as number, line: frame.request.line };
  } catch {
    return undefined;
  }
}

export class SessionServer {
  constructor(
    private readonly node: NodeHost,
    private readonly service: Service,
  ) {}

  attach(path: ClientPath, connection: ClientConnection): void {
    // Live-sync is refused once a client connected (37033); the remote console does not count.
    if (path === '/client') this.node.clientConnections++;
    let session: Session;
    try {
      session = this.service.openSession();
    } catch (error) {
      connection.close(1013, error instanceof HsmError ? error.codeName : 'busy');
      return;
    }
    connection.onClose(() => this.service.closeSession(session));
    connection.onMessage((bytes) => {
      // A handler that fails answers with a code; it must never take the node down.
      this.answer(path, session, decoder.decode(bytes))
        .catch((error: unknown) =>
          JSON.stringify({
            id: null,
            response: {
              code: 37019,
              message: `internal error: ${error instanceof Error ? error.message : String(error)}`,
            },
          }),
        )
        .then((reply) => connection.send(encoder.encode(reply)));
    });
  }

  private async answer(path: ClientPath, session: Session, text: string): Promise<string> {
    const command = path === '/console' ? consoleFrame(text) : undefined;
    if (!command) return this.service.handleFrame(session, text);
    const code = this.adminCheck(session);
    if (code !== 0)
      return JSON.stringify({
        id: command.id,
        response: { code, message: new HsmError(code).message },
      });
    const result = await runCommand(this.node.appliance, 'remote', command.line, {
      backup: { svmk: this.service.backend.svmk },
      liveSync: (target) => this.node.liveSync(target),
    });
    return JSON.stringify({ id: command.id, response: { code: 0, result } });
  }

  /** 0 for a logged-in administrator; otherwise the code to refuse with. */
  private adminCheck(session: Session): number {
    const user = session.user;
    if (!user) return 5002;
    const core = this.node.appliance.core;
    const record = core.get('user', user);
    if (!record) return 5002;
    const decoded = core.decode(record);
    return decoded.kind === 'user' && decoded.admin ? 0 : 5002;
  }
}
