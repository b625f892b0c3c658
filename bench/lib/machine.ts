// What a benchmark figure came from: CPU, cores, memory, Node, and how loaded the machine was.

import { execFileSync } from 'node:child_process';
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
    loadAverage: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

export { uptimeLine };
