// Types for pino-roll (the package ships none), as its README documents.
declare module 'pino-roll' {
  import type SonicBoom from 'sonic-boom';
  export interface PinoRollOptions {
    readonly file: string | (() => string);
    readonly size?: number | string;
    readonly frequency?: number | 'daily' | 'hourly';
    readonly extension?: string;
    readonly symlink?: boolean;
    readonly limit?: { readonly count?: number; readonly removeOtherLogFiles?: boolean };
    readonly mkdir?: boolean;
    /** Passed to SonicBoom: bytes gathered before a write, and a timer that flushes them. */
    readonly minLength?: number;
    readonly periodicFlush?: number;
  }
  export default function pinoRoll(options: PinoRollOptions): Promise<SonicBoom>;
}
