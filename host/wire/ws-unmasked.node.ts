// Frames this process sends as a WebSocket client go unmasked (Node only): the `ws` option
// `generateMask` leaves the 4-byte masking key at zero, and ws then writes each frame's bytes
// as they are instead of copying the whole frame through a XOR (a 1 MiB copy per live-sync
// chunk a donor sends on a link it dialed, and as much garbage to collect).
//
// Why that is safe here: RFC 6455 (10.3) masks client frames so that a script in a browser
// cannot put bytes of its choosing on the wire, where a proxy might take them for HTTP. No
// browser runs this code (the page uses the browser's WebSocket, which masks), no script
// chooses these bytes, and after the handshake every frame is sealed under a session key
// (ChaCha20-Poly1305: peer, client and console channels, docs/SECURITY.md), so its bytes are
// unpredictable anyway. A server accepts any key; ws's server unmasks a zero key as any other.

/** Options for `new WebSocket(url, ...)` from `ws`: masking key all zeros. */
export const UNMASKED_FRAMES = { generateMask: (): void => {} } as const;
