// `hsmpool audit --host H:P --user admin [--last N]`: a node's audit log (host/appliance/
// audit.node.ts) through its remote console, with the hash chain checked twice: by the node over
// its whole file, and here over the entries received. Exit 1 when either check fails.

import { verifyChain, type AuditEntry } from '../server/audit.node.ts';
import { RemoteConsole, readPassword } from './console-command.ts';
import { CliError, EXIT } from './exit-codes.ts';

export interface AuditOptions {
  readonly host: string;
  readonly user: string;
  readonly passwordFile?: string;
  readonly json: boolean;
  readonly last: number;
}

interface AuditAnswer {
  readonly entries: AuditEntry[];
  readonly chain: { ok: boolean; count: number; brokenAt?: number };
}

export async function runAudit(options: AuditOptions): Promise<number> {
  const password = await readPassword(options);
  const remote = await RemoteConsole.open(options, password);
  let answer: AuditAnswer;
  try {
    const result = await remote.run(`audit ${options.last}`);
    if (result.code !== 0) throw new CliError(EXIT.FAILED, result.text);
    answer = result.data as AuditAnswer;
  } finally {
    remote.close();
  }
  const entries = answer.entries;
  // The window links to the entry before it: check the links and hashes inside the window.
  const local = entries.length ? verifyChain(entries, entries[0].prev) : { ok: true, count: 0 };
  const ok = answer.chain.ok && local.ok;
  if (options.json)
    console.log(JSON.stringify({ event: 'audit', ok, chain: answer.chain, entries }));
  else {
    for (const e of entries)
      console.log(
        `${e.seq}  ${e.time}  ${e.actor.padEnd(12)} ${e.from.padEnd(21)} ${e.action.padEnd(20)} ${e.target ?? '-'}  code ${e.code}${e.detail ? `  ${e.detail}` : ''}`,
      );
    console.log(
      ok
        ? `audit chain verified: ${answer.chain.count} entries`
        : `AUDIT CHAIN BROKEN at entry ${answer.chain.brokenAt ?? local.brokenAt}: the file was edited`,
    );
  }
  return ok ? EXIT.OK : EXIT.FAILED;
}
