// Polling and plain-WebSocket helpers shared by the transport and port-limit tests.

import { WebSocket, type ClientOptions } from 'ws';

/** Polls `condition` every 5 ms; throws naming `what` after `timeoutMs`. */
export async function until(
  condition: () => boolean,
  what: string,
  timeoutMs = 8_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A plain WebSocket client, open, kept in `opened` for the test's cleanup; resolves with it and
 * its close code, or rejects with the HTTP status. */
export async function openWebSocket(
  url: string,
  opened: { push(ws: WebSocket): unknown },
  options: ClientOptions = {},
): Promise<{ ws: WebSocket; closed: Promise<number> }> {
  const ws = new WebSocket(url, { perMessageDeflate: false, ...options });
  opened.push(ws);
  ws.on('error', () => {});
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_request, response) =>
      reject(new Error(`HTTP ${response.statusCode}`)),
    );
  });
  return { ws, closed };
}
