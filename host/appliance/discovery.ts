// Auto-discovery: fills the node cache with the nodes that answer, under this pool's SVMK, at
// the addresses of a configured range. The real appliance finds its peers by service location
// over multicast/broadcast; this emulator may not send traffic beyond loopback, so the
// "network segment" is a list of addresses (`--discover 127.0.0.1:7001-7016`), each probed
// with the peer handshake (the ANY_NODE wildcard: the answer names the node). Browser-safe:
// probes go through the host's dialer; pulses are counted in ticks.

import { CODE, HsmError } from '../core/codes.ts';
import type { NodeId } from '../protocol/types.ts';
import type { ProbeResult } from '../transport/probe.ts';

/** Ticks between discovery rounds (3 s at 10 ms a tick). */
export const DISCOVERY_PULSE_TICKS = 300;
/** Every this many rounds, addresses already in the cache are probed again (an address may
 * have changed hands). */
export const DISCOVERY_RECHECK_ROUNDS = 10;
/** Addresses one node probes. */
export const DISCOVERY_ADDRESSES_MAX = 64;
/** How long one probe waits for the handshake. */
export const DISCOVERY_PROBE_TIMEOUT_MS = 1000;

/** "HOST:PORT-PORT" or "HOST:PORT", comma-separated: the addresses, at most DISCOVERY_ADDRESSES_MAX. */
export function parseDiscoveryRange(text: string): string[] {
  const addresses: string[] = [];
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.length > 0)) {
    const match = /^(.+):(\d{1,5})(?:-(\d{1,5}))?$/.exec(part);
    if (!match)
      throw new HsmError(
        CODE.ADDRESS_INVALID,
        `discovery range ${JSON.stringify(part)}: expected HOST:PORT or HOST:PORT-PORT`,
      );
    const [, host, low, high = low] = match;
    const from = Number(low);
    const to = Number(high);
    if (from < 1 || to > 65535 || to < from)
      throw new HsmError(
        CODE.ADDRESS_INVALID,
        `discovery range ${part}: ports 1 to 65535, low to high`,
      );
    if (addresses.length + (to - from + 1) > DISCOVERY_ADDRESSES_MAX)
      throw new HsmError(
        CODE.ADDRESS_INVALID,
        `discovery range: at most ${DISCOVERY_ADDRESSES_MAX} addresses`,
      );
    for (let port = from; port <= to; port++) addresses.push(`${host}:${port}`);
  }
  if (addresses.length === 0)
    throw new HsmError(CODE.ADDRESS_INVALID, 'discovery range: no address');
  return [...new Set(addresses)];
}

export interface DiscoveryStatus {
  readonly addresses: number;
  readonly rounds: number;
  /** Nodes that answered, by address. */
  readonly found: Readonly<Record<string, NodeId>>;
}

export interface DiscoveryOptions {
  readonly addresses: readonly string[];
  /** This node's own address (never probed). */
  readonly self: string;
  /** A peer handshake to an address (probePeer with the host's dialer and this node's id). */
  readonly probe: (address: string) => Promise<ProbeResult>;
  /** Whether the cache already holds an address (skipped but on recheck rounds). */
  readonly known: (address: string) => boolean;
  /** A node answered at an address. */
  readonly onFound: (id: NodeId, address: string) => void;
}

export class Discovery {
  private rounds = 0;
  private running = false;
  private readonly found = new Map<string, NodeId>();

  constructor(private readonly options: DiscoveryOptions) {}

  /** Starts a round on every DISCOVERY_PULSE_TICKS-th tick, unless one is still running. */
  tick(now: number): void {
    if (now % DISCOVERY_PULSE_TICKS !== 0 || this.running) return;
    void this.round();
  }

  /** One round now: probes every address of the range (the cached ones only on recheck rounds). */
  async round(): Promise<void> {
    if (this.running) return;
    this.running = true;
    const recheck = this.rounds % DISCOVERY_RECHECK_ROUNDS === 0;
    this.rounds++;
    try {
      const targets = this.options.addresses.filter(
        (address) => address !== this.options.self && (recheck || !this.options.known(address)),
      );
      const results = await Promise.all(
        targets.map(async (address) => ({ address, result: await this.options.probe(address) })),
      );
      for (const { address, result } of results) {
        if (result.code !== 0 || result.id === undefined) {
          this.found.delete(address);
          continue;
        }
        this.found.set(address, result.id);
        this.options.onFound(result.id, address);
      }
    } finally {
      this.running = false;
    }
  }

  status(): DiscoveryStatus {
    return {
      addresses: this.options.addresses.length,
      rounds: this.rounds,
      found: Object.fromEntries(this.found),
    };
  }
}
