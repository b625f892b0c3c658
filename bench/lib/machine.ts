// What a benchmark figure came from: CPU, cores, memory, Node, and how loaded the machine was.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';

export interface MachineInfo {
  readonly cpuModel: string;
  readonly logicalCores: number;
  readonly memoryGiB: number;
  readonly platform: string;
  readonly node: string;
  readonly v8: string;
  readonly date: string;
  readonly uptime: string;
  readonly loadAverage: readonly number[];
}

/** The load averages (1, 5, 15 minutes) to two decimals. */
export const loadAverage = (): number[] => os.loadavg().map((x) => Math.round(x * 100) / 100);

function uptimeLine(): string {
  try {
    return execFileSync('uptime', { encoding: 'utf8', timeout: 2000 }).trim();
  } catch {
    return `load average: ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(', ')}`;
  }
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    logicalCores: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    node: process.version,
    v8: process.versions.v8,
    date: new Date().toISOString(),
    uptime: uptimeLine(),
    loadAverage: loadAverage(),
  };
}

export { uptimeLine };

/** CPU time (user + system, every thread) a process has used, in ms, from /proc/PID/stat;
 * undefined where there is no /proc (not Linux). Clock ticks are USER_HZ, 100 per second on
 * Linux, so readings are good to 10 ms: take them over seconds, not single operations. */
export function processCpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces, hence the last ')'): utime is the
    // 12th, stime the 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}
