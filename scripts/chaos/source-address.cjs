// Preloaded (node --require) into each `hsmpool node` process of the chaos campaign: outgoing
// TCP connections to 127.0.0.0/8 leave from the loopback address in HSMPOOL_CHAOS_SOURCE
// (127.0.0.x), so the fault-injecting proxy in front of each node knows which node dials it
// (proxy.node.ts, docs/CHAOS.md). Test harness only: nothing in the product loads it.
'use strict';
const net = require('node:net');

const source = process.env.HSMPOOL_CHAOS_SOURCE;
if (source !== undefined) {
  if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(source))
    throw new Error(`HSMPOOL_CHAOS_SOURCE: ${source} is not a 127.0.0.0/8 address`);
  const withSource = (options) =>
    options &&
    typeof options === 'object' &&
    options.path === undefined &&
    options.localAddress === undefined &&
    typeof options.host === 'string' &&
    /^127\./.test(options.host)
      ? { ...options, localAddress: source }
      : options;
  const connect = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function (...args) {
    // net.connect hands over its normalized [options, callback] array (keep that array: it
    // carries a marker symbol); a direct socket.connect(options) call passes the object.
    if (Array.isArray(args[0])) args[0][0] = withSource(args[0][0]);
    else args[0] = withSource(args[0]);
    return connect.apply(this, args);
  };
}
