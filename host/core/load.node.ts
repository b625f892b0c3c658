// Loads build/core.wasm from disk (Node only). Browsers fetch the same file and call
// Core.instantiate with its bytes.

import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Core } from './core.ts';

export type CoreVariant = 'release' | 'scalar' | 'debug';

const FILES: Record<CoreVariant, string> = {
  release: 'core.wasm',
  scalar: 'core-scalar.wasm',
  debug: 'core-debug.wasm',
};

const modules = new Map<CoreVariant, WebAssembly.Module>();

/** build/core.wasm: beside the bundled CLI (build/cli.js), or two levels up from this source. */
export function coreWasmPath(variant: CoreVariant = 'release'): string {
  const candidates = [
    new URL(`./${FILES[variant]}`, import.meta.url),
    new URL(`../../build/${FILES[variant]}`, import.meta.url),
  ].map((url) => fileURLToPath(url));
  return candidates.find((path) => existsSync(path)) ?? candidates[1];
}

/** The compiled module, compiled once per process. */
export function coreModule(variant: CoreVariant = 'release'): WebAssembly.Module {
  let module = modules.get(variant);
  if (!module) {
    let bytes: BufferSource;
    try {
      bytes = readFileSync(coreWasmPath(variant));
    } catch {
      throw new Error(`${coreWasmPath(variant)} is missing: run \`npm run build\` first`);
    }
    module = new WebAssembly.Module(bytes);
    modules.set(variant, module);
  }
  return module;
}

/** A fresh core instance (its own memory and key store). */
export function newCore(variant: CoreVariant = 'release'): Core {
  return Core.fromModule(coreModule(variant));
}
