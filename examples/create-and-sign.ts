// Create a key on one node, sign with it on another (README "Client SDK").
// Usage: npx tsx examples/create-and-sign.ts HOST:PORT HOST:PORT  (password in HSMPOOL_PASSWORD)

// The package's public entry point (package.json "exports"; `npm run build` makes it).
import { HsmClient } from 'hsmpool';

const [first, second] = process.argv.slice(2);
const password = process.env.HSMPOOL_PASSWORD ?? '';
const name = `signer-${Date.now().toString(36)}`;
const onFirst = await HsmClient.connect({
  nodes: [first],
  user: 'admin',
  password,
});
await onFirst.generateKey(name, 'ec-p256');
const onSecond = await HsmClient.connect({
  nodes: [second],
  user: 'admin',
  password,
});
const message = new TextEncoder().encode('pay 100 to bob');
const signature = await onSecond.sign(name, message);
console.log(
  `key ${name} created on ${first}, signed on ${second}: ${signature.length}-byte signature, verifies on ${first}: ${await onFirst.verify(name, message, signature)}`,
);
onFirst.close();
onSecond.close();
