// A node's logs (pino): every line timestamped (wall clock, ISO 8601) and levelled, to standard
// output (JSON lines with --json, else `TIME LEVEL [node] event k=v`) and to a size-rotated file
// of JSON lines in DATA/logs/ (pino-roll: node.N.log, LOG_FILE_SIZE each, LOG_FILES_KEPT kept).
// Start and stop, recovery, peers lost and linked again, aborts, node-down, node-added,
// checkpoints, live-sync and backup are logged one by one; commits and refusals are counted and
// logged as a `replication-summary` every SUMMARY_MS when any happened.
//
// The replication event history (prepare, commit, abort, node-down, node-added, checkpoint,
// with wall-clock times) goes to its own rotated file, DATA/logs/events.N.log, and the last
// EVENTS_KEPT events are read back at the next start (`debug`, the support bundle).

import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import pinoRoll from 'pino-roll';
import { EVENTS_KEPT, type ReplicationEvent } from '../appliance/appliance.ts';

export const logDir = (data: string): string => join(data, 'logs');
/** One log file's size before it rolls. */
export const LOG_FILE_SIZE = '10m';
/** Rolled log files kept beside the active one. */
export const LOG_FILES_KEPT = 5;
/** The event history's file size before it rolls (one rolled file kept). */
export const EVENTS_FILE_SIZE = '1m';
/** The event history gathers lines until this many bytes (or EVENTS_FLUSH_MS) before it
 * writes: a line per prepare and commit written on its own cost a participant 6-8 % of its
 * CPU in a 1-client commit profile (bench:commit). A node killed with -9 loses at most this
 * window of history; the log (host/log/) is what replication relies on, not this file. */
export const EVENTS_BUFFER_BYTES = 4096;
export const EVENTS_FLUSH_MS = 1000;
/** How often counted activity (commits, refusals) is logged, when there was any. */
export const SUMMARY_MS = 10_000;

export type Level = 'debug' | 'info' | 'warn' | 'error';

export interface NodeLog {
  /** A line on standard output and in the file. */
  say(event: string, fields?: Record<string, unknown>, level?: Level): void;
  /** A replication event: history file; the log (one by one, or counted for commits). */
  replication(event: ReplicationEvent): void;
  /** A client write answered with a code (refusals are counted). */
  answered(code: number): void;
  /** Opens the files in DATA/logs/ (only once the directory passed its start-up checks: a
   * refused start changes nothing) and writes what was said before; resolves with the events of
   * earlier runs, oldest first (at most EVENTS_KEPT). */
  openFiles(): Promise<ReplicationEvent[]>;
  close(): Promise<void>;
}

/** Lines said before the files open, kept for them (the rest are on standard output only). */
export const EARLY_LINES_MAX = 256;

const isoTime = (): string => `,"time":"${new Date().toISOString()}"`;

function fileLogger(stream: NodeJS.WritableStream): Logger {
  return pino(
    {
      base: null,
      timestamp: isoTime,
      formatters: { level: (label) => ({ level: label }) },
      messageKey: 'message',
    },
    stream,
  );
}

/** The last `n` events in DATA/logs/events.*.log, oldest first. */
export function readEventHistory(dir: string, n = EVENTS_KEPT): ReplicationEvent[] {
  if (!existsSync(dir)) return [];
  const files = readdirSync(dir)
    .map((name) => ({ name, n: Number(/^events\.(\d+)\.log$/.exec(name)?.[1] ?? NaN) }))
    .filter((f) => Number.isInteger(f.n))
    .sort((x, y) => x.n - y.n)
    .slice(-2);
  const events: ReplicationEvent[] = [];
  for (const file of files) {
    for (const line of readFileSync(join(dir, file.name), 'utf8').split('\n')) {
      if (!line) continue;
      try {
        const o = JSON.parse(line) as Record<string, unknown>;
        if (typeof o.event !== 'string' || typeof o.at !== 'number') continue;
        events.push({
          tick: typeof o.tick === 'number' ? o.tick : 0,
          at: o.at,
          event: o.event,
          ...(typeof o.txid === 'string' ? { txid: o.txid } : {}),
          ...(typeof o.detail === 'string' ? { detail: o.detail } : {}),
        });
      } catch {
        // a torn last line after a crash
      }
    }
  }
  return events.slice(-n);
}

export function openNodeLog(options: {
  readonly data: string;
  readonly json: boolean;
  readonly node: () => string;
  /** Standard output (tests capture it). */
  readonly stdout?: (line: string) => void;
}): NodeLog {
  const dir = logDir(options.data);
  let file: Logger | undefined;
  let eventsFile: Logger | undefined;
  const early: [Level, Record<string, unknown>][] = [];
  const write = options.stdout ?? ((line: string) => process.stdout.write(line + '\n'));
  let commits = 0;
  const refusals = new Map<number, number>();
  const say: NodeLog['say'] = (event, fields = {}, level = 'info') => {
    const node = options.node();
    if (file) file[level]({ event, node, ...fields });
    else if (early.length < EARLY_LINES_MAX) early.push([level, { event, node, ...fields }]);
    const time = new Date().toISOString();
    if (options.json) write(JSON.stringify({ level, time, event, node, ...fields }));
    else write(textLine(time, level, node, event, fields));
  };
  const summary = setInterval(() => {
    if (commits === 0 && refusals.size === 0) return;
    say('replication-summary', {
      commits,
      seconds: SUMMARY_MS / 1000,
      refusals: Object.fromEntries(refusals),
    });
    commits = 0;
    refusals.clear();
  }, SUMMARY_MS);
  summary.unref();
  return {
    say,
    async openFiles() {
      mkdirSync(dir, { recursive: true });
      const history = readEventHistory(dir);
      ({ file, eventsFile } = await openLogFiles(dir));
      for (const [level, line] of early.splice(0)) file[level](line);
      return history;
    },
    replication(event) {
      eventsFile?.info({ ...event });
      if (event.event.startsWith('commit')) commits++;
      else if (event.event !== 'prepare')
        say(
          event.event,
          { txid: event.txid, detail: event.detail },
          event.event === 'abort' || event.event === 'node-down' ? 'warn' : 'info',
        );
    },
    answered(code) {
      if (code !== 0) refusals.set(code, (refusals.get(code) ?? 0) + 1);
    },
    async close() {
      clearInterval(summary);
      for (const logger of [file, eventsFile]) if (logger) await flush(logger);
    },
  };
}

/** A line for a person: time, level, node, event, then key=value fields. */
function textLine(
  time: string,
  level: Level,
  node: string,
  event: string,
  fields: Record<string, unknown>,
): string {
  const pairs = Object.entries(fields).map(
    ([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`,
  );
  return `${time} ${level.toUpperCase().padEnd(5)} [${node}] ${event}${pairs.length ? ' ' + pairs.join(' ') : ''}`;
}

/** The rolling node log and the one-file event history, in DATA/logs. */
async function openLogFiles(dir: string): Promise<{ file: Logger; eventsFile: Logger }> {
  const file = fileLogger(
    await pinoRoll({
      file: join(dir, 'node'),
      size: LOG_FILE_SIZE,
      limit: { count: LOG_FILES_KEPT },
      mkdir: true,
    }),
  );
  const eventsFile = fileLogger(
    await pinoRoll({
      file: join(dir, 'events'),
      size: EVENTS_FILE_SIZE,
      limit: { count: 1 },
      minLength: EVENTS_BUFFER_BYTES,
      periodicFlush: EVENTS_FLUSH_MS,
    }),
  );
  return { file, eventsFile };
}

function flush(logger: Logger): Promise<void> {
  return new Promise((resolve) => logger.flush(() => resolve()));
}
