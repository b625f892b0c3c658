// The client pane: the real SDK (HsmClient) over the pool's connections — in-tab connections
// to the workers, or WebSockets to real processes. Log in, create keys, sign, verify, encrypt,
// list; every call is listed with its return code, name and documented meaning.

import { HsmClient } from '../host/client/client.ts';
import { CODE, HsmError, describe } from '../host/core/codes.ts';
import type { KeyType } from '../host/core/records.ts';
import { toHex } from '../host/wire/bytes.ts';
import { $, escape, type ShownPool } from './view.ts';

interface Call {
  readonly op: string;
  readonly node: number;
  readonly code: number;
  readonly name: string;
  readonly meaning: string;
  readonly result: string;
  readonly ms: number;
}

/** Calls listed, the latest first. */
const CALLS_SHOWN = 50;

/** Failures after which the page opens a new session to that node. */
const SESSION_DROPPING_CODES: ReadonlySet<number> = new Set([
  CODE.NET_FAIL,
  CODE.ACCESS_DENIED,
  CODE.REPLICATION_BUSY,
  CODE.SERVER_BUSY,
]);

function callHtml(c: Call): string {
  return `<div class="call"><b>${c.op}</b> on node ${c.node + 1}: <span class="${c.code === 0 ? 'code0' : 'codeN'}">${c.code} ${c.name}</span> — ${escape(c.meaning)} <span class="hint">(${c.ms.toFixed(0)} ms)</span><br><span class="mono">${escape(c.result)}</span></div>`;
}

/** The pane: its sessions (one per node, user and password) and the calls it listed. */
class ClientPane {
  private readonly calls: Call[] = [];
  private readonly sessions = new Map<string, HsmClient>();
  lastSignature: Uint8Array | undefined;

  constructor(private readonly pool: ShownPool) {}

  private async clientFor(index: number): Promise<HsmClient> {
    const user = $<HTMLInputElement>('cuser').value;
    const password = $<HTMLInputElement>('cpass').value;
    const key = `${index}/${user}/${password}`;
    let client = this.sessions.get(key);
    if (!client) {
      client = await HsmClient.connect({
        nodes: [this.pool.nodes[index].address],
        user,
        password,
        connections: this.pool.connections,
        retry: { busyRetriesMax: 2 },
        requestTimeoutMs: 10_000,
      });
      this.sessions.set(key, client);
    }
    return client;
  }

  private forgetSessions(index: number): void {
    for (const [key, client] of this.sessions)
      if (key.startsWith(`${index}/`)) {
        this.sessions.delete(key);
        void client.close?.();
      }
  }

  /** Runs one call on node `index` and lists it with its code, name and meaning. */
  async call(op: string, index: number, run: (client: HsmClient) => Promise<string>) {
    const began = performance.now();
    let entry: Call;
    try {
      const result = await run(await this.clientFor(index));
      const ms = performance.now() - began;
      entry = { op, node: index, code: 0, name: 'OK', meaning: 'Success.', result, ms };
    } catch (error) {
      const failure = error instanceof HsmError ? error : undefined;
      const described = describe(failure?.code ?? CODE.OPERATION_FAILED);
      if (failure && SESSION_DROPPING_CODES.has(failure.code)) this.forgetSessions(index);
      entry = {
        op,
        node: index,
        code: described.code,
        name: described.name,
        meaning: described.meaning,
        result: error instanceof Error ? error.message : String(error),
        ms: performance.now() - began,
      };
    }
    this.calls.unshift(entry);
    if (this.calls.length > CALLS_SHOWN) this.calls.pop();
    $('calls').innerHTML = this.calls.map(callHtml).join('');
    return entry;
  }
}

const clientNode = (): number => Number($<HTMLSelectElement>('cnode').value);
const keyName = (): string => $<HTMLInputElement>('kname').value;
const message = (): Uint8Array => new TextEncoder().encode($<HTMLInputElement>('msg').value);

/** Wires the pane's buttons; returns the operations (the end-to-end tests call them too). */
export function clientPane(pool: ShownPool) {
  const pane = new ClientPane(pool);
  const ops = {
    login: (index = clientNode()) => pane.call('login', index, async () => 'logged in'),
    create: (
      index = clientNode(),
      name = keyName(),
      type = $<HTMLSelectElement>('ktype').value as KeyType,
    ) =>
      pane.call('create key', index, async (client) =>
        JSON.stringify(await client.generateKey(name, type)),
      ),
    sign: (index = clientNode(), name = keyName()) =>
      pane.call('sign', index, async (client) => {
        pane.lastSignature = await client.sign(name, message());
        return toHex(pane.lastSignature);
      }),
    verify: (index = clientNode(), name = keyName()) =>
      pane.call('verify', index, async (client) =>
        String(await client.verify(name, message(), pane.lastSignature ?? new Uint8Array(64))),
      ),
    encrypt: (index = clientNode(), name = keyName()) =>
      pane.call('encrypt', index, async (client) => toHex(await client.encrypt(name, message()))),
    list: (index = clientNode()) =>
      pane.call('list keys', index, async (client) => JSON.stringify(await client.listKeys())),
  };
  for (const op of ['login', 'create', 'sign', 'verify', 'encrypt', 'list'] as const)
    $(op).onclick = () => void ops[op]();
  return ops;
}
