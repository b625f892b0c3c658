// Loads a core from an explicit .wasm file, so a benchmark can compare builds side by side.

import { readFileSync } from 'node:fs';
import { Core } from '../../host/core/core.ts';
import { deriveSyncPointKey } from '../../host/core/keys.ts';

const modules = new Map<string, WebAssembly.Module>();

export function loadCore(wasmPath: string): Core {
  let module = modules.get(wasmPath);
  if (!module) {
    module = new WebAssembly.Module(readFileSync(wasmPath));
    modules.set(wasmPath, module);
  }
  return Core.fromModule(module);
}

/** The pool master key every benchmark and check uses: bytes 0..31. */
export const BENCH_SVMK = Uint8Array.from({ length: 32 }, (_, i) => i);

export function keyedCore(wasmPath: string): Core {
  const core = loadCore(wasmPath);
  core.setKey(deriveSyncPointKey(BENCH_SVMK));
  return core;
}
