// `hsmpool web [--port 8080]`: serves the browser page (build/web/, made by `npm run build`)
// on 127.0.0.1 and prints its URL; Ctrl-C stops it. docs/WEB.md.

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { serveStatic } from '../../web/serve.node.ts';
import { CliError, EXIT } from './exit-codes.ts';

/** build/web: beside the bundled CLI (build/cli.js), or two levels up from this source. */
export function webRoot(): string {
  const candidates = [
    new URL('./web/', import.meta.url),
    new URL('../../build/web/', import.meta.url),
  ].map((url) => fileURLToPath(url));
  const found = candidates.find((path) => existsSync(`${path}index.html`));
  if (!found)
    throw new CliError(EXIT.DATA, `${candidates[1]} is missing: run \`npm run build\` first`);
  return found;
}

export async function runWeb(options: { readonly port: number }): Promise<number> {
  if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535)
    throw new CliError(EXIT.USAGE, `--port: expected 0..65535, got ${options.port}`);
  const { server, url } = await serveStatic(webRoot(), options.port).catch((error: Error) => {
    throw new CliError(EXIT.FAILED, `cannot listen on 127.0.0.1:${options.port}: ${error.message}`);
  });
  console.log(`hsmpool page: ${url}  (a pool of 3 appliances in Web Workers; ?nodes=N for 1-16)`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  server.closeAllConnections(); // idle keep-alive connections would hold the process
  await new Promise((resolve) => server.close(resolve));
  return EXIT.OK;
}
