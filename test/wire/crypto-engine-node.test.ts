// The Node engine (host/wire/crypto-engine.node.ts) against the portable one: the same bytes
// on the wire and on disk. ChaCha20-Poly1305 and AES-GCM seal with one engine and open with the
// other, both ways; the RFC 8439 vector anchors both; the peer link and the session channel
// interoperate across engines and send the very same frames.

import { describe, expect, it } from 'vitest';
import { Random } from '../../host/protocol/random.ts';
import { SecureChannel, type ChannelStep } from '../../host/transport/secure-channel.ts';
import {
  CryptoEngine,
  ecdsaCurve,
  ecdsaSignatureSize,
  keyBytes,
  NOBLE_CHACHA,
  type ChaChaAead,
} from '../../host/wire/crypto-engine.ts';
import { NODE_CHACHA, NodeCryptoEngine } from '../../host/wire/crypto-engine.node.ts';
import { SessionChannel } from '../../host/wire/session-channel.ts';
import { unwrapObjectKey, wrapObjectKey } from '../../host/wire/wrapping.ts';
import { toNodeId } from '../../host/wire/ids.ts';

const hex = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text, 'hex'));
const SIZES = [0, 1, 15, 16, 17, 64, 255, 1024, 4097];
const ENGINES: [string, ChaChaAead][] = [
  ['noble', NOBLE_CHACHA],
  ['node:crypto', NODE_CHACHA],
];

describe('ChaCha20-Poly1305: noble and node:crypto', () => {
  it.each(ENGINES)('%s seals the RFC 8439 section 2.8.2 vector', (_name, aead) => {
    const key = Uint8Array.from({ length: 32 }, (_, i) => 0x80 + i);
    const plaintext = new TextEncoder().encode(
      "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
    );
    const sealed = aead.seal(
      key,
      hex('070000004041424344454647'),
      hex('50515253c0c1c2c3c4c5c6c7'),
      plaintext,
    );
    expect(Buffer.from(sealed.subarray(0, 16)).toString('hex')).toBe(
      'd31a8d34648e60db7b86afbc53ef7ec2',
    );
    expect(Buffer.from(sealed.subarray(-16)).toString('hex')).toBe(
      '1ae10b594f09e26a7e902ecbd0600691',
    );
  });

  it('seal with one, open with the other, both ways: the same bytes at every size', () => {
    const random = new Random(16);
    for (const size of SIZES) {
      const [key, nonce, aad, plaintext] = [32, 12, size % 40, size].map((n) => random.bytes(n));
      const noble = NOBLE_CHACHA.seal(key, nonce, aad, plaintext);
      const node = NODE_CHACHA.seal(key, nonce, aad, plaintext);
      expect(node, `size ${size}`).toEqual(noble);
      expect(node.constructor).toBe(Uint8Array);
      expect(NODE_CHACHA.open(key, nonce, aad, noble), `size ${size}`).toEqual(plaintext);
      expect(NOBLE_CHACHA.open(key, nonce, aad, node), `size ${size}`).toEqual(plaintext);
      // With headroom: zeros for the caller's header, then the same sealed bytes.
      const headroom = size % 10;
      for (const aead of [NOBLE_CHACHA, NODE_CHACHA]) {
        const framed = aead.seal(key, nonce, aad, plaintext, headroom);
        expect(framed.subarray(0, headroom)).toEqual(new Uint8Array(headroom));
        expect(framed.subarray(headroom), `size ${size}, headroom ${headroom}`).toEqual(noble);
      }
    }
  });

  it.each(ENGINES)(
    '%s refuses a flipped bit, another AAD, and anything shorter than a tag',
    (_name, aead) => {
      const random = new Random(17);
      const [key, nonce, aad, plaintext] = [32, 12, 9, 33].map((n) => random.bytes(n));
      const sealed = aead.seal(key, nonce, aad, plaintext);
      for (let bit = 0; bit < sealed.length * 8; bit += 7) {
        const bad = sealed.slice();
        bad[bit >> 3] ^= 1 << (bit & 7);
        expect(aead.open(key, nonce, aad, bad), `bit ${bit}`).toBeUndefined();
      }
      expect(aead.open(key, nonce, random.bytes(9), sealed)).toBeUndefined();
      for (let length = 0; length < 16; length++)
        expect(aead.open(key, nonce, aad, sealed.subarray(0, length))).toBeUndefined();
      expect(aead.open(key, nonce, aad, aead.seal(key, nonce, aad, new Uint8Array(0)))).toEqual(
        new Uint8Array(0),
      );
    },
  );
});

describe('AES-GCM: WebCrypto, noble and node:crypto', () => {
  const engines: [string, CryptoEngine][] = [
    ['WebCrypto', new CryptoEngine()],
    ['noble', new CryptoEngine({ subtle: null })],
    ['node:crypto', new NodeCryptoEngine()],
  ];

  it('every engine seals the same bytes and opens every other one, for 128, 192 and 256-bit keys', async () => {
    const random = new Random(18);
    for (const keySize of [16, 24, 32])
      for (const size of SIZES) {
        const key = keyBytes(random.bytes(keySize));
        const [nonce, aad, plaintext] = [12, size % 50, size].map((n) => random.bytes(n));
        const sealed = await Promise.all(
          engines.map(([, engine]) => engine.aesGcmSeal(key, nonce, plaintext, aad)),
        );
        for (const other of sealed)
          expect(other, `key ${keySize}, size ${size}`).toEqual(sealed[0]);
        for (const [name, engine] of engines)
          expect(await engine.aesGcmOpen(key, nonce, sealed[0], aad), name).toEqual(plaintext);
      }
  });

  it('node:crypto refuses a flipped bit, another AAD, a short input, and a bad key size', async () => {
    const engine = new NodeCryptoEngine();
    const random = new Random(19);
    const key = keyBytes(random.bytes(32));
    const [nonce, aad, plaintext] = [12, 5, 40].map((n) => random.bytes(n));
    const sealed = await engine.aesGcmSeal(key, nonce, plaintext, aad);
    for (let bit = 0; bit < sealed.length * 8; bit += 5) {
      const bad = sealed.slice();
      bad[bit >> 3] ^= 1 << (bit & 7);
      expect(await engine.aesGcmOpen(key, nonce, bad, aad), `bit ${bit}`).toBeUndefined();
    }
    expect(await engine.aesGcmOpen(key, nonce, sealed, random.bytes(5))).toBeUndefined();
    expect(await engine.aesGcmOpen(key, nonce, sealed.subarray(0, 15), aad)).toBeUndefined();
    await expect(
      engine.aesGcmSeal(keyBytes(random.bytes(20)), nonce, plaintext, aad),
    ).rejects.toThrow(/16, 24 or 32/);
    expect(await engine.aesGcmOpen(keyBytes(random.bytes(20)), nonce, sealed, aad)).toBeUndefined();
  });

  it('an object key wrapped by one engine unwraps under the other, both ways, byte for byte', async () => {
    const wrapKey = keyBytes(new Uint8Array(32).fill(0x42));
    const material = new Uint8Array(32).fill(7);
    const nonce = new Uint8Array(12).fill(9);
    const [web, , node] = await Promise.all(
      engines.map(([, e]) => wrapObjectKey(e, wrapKey, 'k1', 'aes-256', material, nonce)),
    );
    expect(node).toEqual(web);
    expect(await unwrapObjectKey(engines[2][1], wrapKey, 'k1', 'aes-256', web)).toEqual(material);
    expect(await unwrapObjectKey(engines[0][1], wrapKey, 'k1', 'aes-256', node)).toEqual(material);
    await expect(unwrapObjectKey(engines[2][1], wrapKey, 'k2', 'aes-256', web)).rejects.toThrow();
  });
});

describe('signatures and MACs: node:crypto against WebCrypto and noble', () => {
  const web = new CryptoEngine();
  const noble = new CryptoEngine({ subtle: null });
  const node = new NodeCryptoEngine();
  const message = new TextEncoder().encode('transfer 100 to account 7');
  const other = new TextEncoder().encode('transfer 900 to account 7');

  it.each(['P-256', 'P-384', 'P-521'] as const)(
    'ECDSA %s: each engine verifies the others, refuses another message, high-S and out-of-range r, s',
    async (curve) => {
      const random = new Random(curve.length + Number(curve.slice(2)));
      const size = ecdsaSignatureSize(curve) / 2;
      const scalar = random.bytes(size);
      scalar[0] &= curve === 'P-521' ? 0x01 : 0x7f; // below the order
      const key = keyBytes(scalar, node.ecdsaPublicKey(curve, scalar));
      const signatures = [
        await web.ecdsaSign(curve, key, message),
        await noble.ecdsaSign(curve, key, message),
        await node.ecdsaSign(curve, key, message),
      ];
      expect(signatures[2].constructor).toBe(Uint8Array);
      for (const signature of signatures)
        for (const engine of [web, noble, node]) {
          expect(await engine.ecdsaVerify(curve, key, message, signature)).toBe(true);
          expect(await engine.ecdsaVerify(curve, key, other, signature)).toBe(false);
        }
      // The same signature with S replaced by n - S: WebCrypto accepts it, so node:crypto must.
      const n = ecdsaCurve(curve).Point.CURVE().n;
      const s = BigInt('0x' + Buffer.from(signatures[2].subarray(size)).toString('hex'));
      const highS = signatures[2].slice();
      highS.set(hex((n - s).toString(16).padStart(2 * size, '0')), size);
      expect(await web.ecdsaVerify(curve, key, message, highS)).toBe(true);
      expect(await node.ecdsaVerify(curve, key, message, highS)).toBe(true);
      for (const bad of [
        new Uint8Array(2 * size),
        new Uint8Array(2 * size).fill(0xff),
        signatures[2].subarray(1),
        new Uint8Array(0),
      ])
        expect(await node.ecdsaVerify(curve, key, message, bad)).toBe(false);
    },
  );

  it('Ed25519: node:crypto gives the same bytes as WebCrypto and noble and verifies theirs', async () => {
    const random = new Random(25519);
    for (let i = 0; i < 5; i++) {
      const seed = random.bytes(32);
      const key = keyBytes(seed, node.ed25519PublicKey(seed));
      const signature = await node.ed25519Sign(key, message);
      expect(signature).toEqual(await web.ed25519Sign(key, message));
      expect(signature).toEqual(await noble.ed25519Sign(key, message));
      for (const engine of [web, noble, node]) {
        expect(await engine.ed25519Verify(key, message, signature)).toBe(true);
        expect(await engine.ed25519Verify(key, other, signature)).toBe(false);
      }
      const flipped = signature.slice();
      flipped[i * 7] ^= 1;
      expect(await node.ed25519Verify(key, message, flipped)).toBe(false);
      expect(await node.ed25519Verify(key, message, signature.subarray(1))).toBe(false);
    }
  });

  it('RSA-2048 PKCS#1 v1.5: node:crypto gives the same bytes as WebCrypto, both verify', async () => {
    const pkcs8 = await web.rsaGenerate();
    const key = keyBytes(pkcs8, await web.rsaPublicKey(pkcs8));
    const signature = await node.rsaSign(key, message);
    expect(signature).toEqual(await web.rsaSign(key, message));
    for (const engine of [web, node]) {
      expect(await engine.rsaVerify(key, message, signature)).toBe(true);
      expect(await engine.rsaVerify(key, other, signature)).toBe(false);
      expect(await engine.rsaVerify(key, message, signature.subarray(1))).toBe(false);
    }
    expect(await node.rsaVerify(key, message, new Uint8Array(256))).toBe(false);
  });

  it('SHA-256 in parts: node:crypto gives the same digest as noble, whatever the parts', () => {
    const random = new Random(256);
    for (const sizes of [[], [0], [1, 63, 64, 65], [5000, 1, 70_000]]) {
      const [a, b] = [noble.sha256(), node.sha256()];
      for (const size of sizes) {
        const part = random.bytes(size);
        a.update(part);
        b.update(part);
      }
      const digest = b.digest();
      expect(digest, sizes.join(',')).toEqual(a.digest());
      expect(digest.constructor).toBe(Uint8Array);
    }
  });

  it('HMAC: node:crypto gives the same bytes as WebCrypto and noble, at every size and hash', async () => {
    const random = new Random(20);
    for (const hash of ['SHA-256', 'SHA-384', 'SHA-512'] as const)
      for (const size of [0, 1, 64, 1023, 1024, 5000]) {
        const key = keyBytes(random.bytes(size % 3 === 0 ? 32 : 200));
        const data = random.bytes(size);
        const mac = await node.hmac(hash, key, data);
        expect(mac, `${hash} ${size}`).toEqual(await web.hmac(hash, key, data));
        expect(mac, `${hash} ${size}`).toEqual(await noble.hmac(hash, key, data));
      }
  });
});

describe('channels across engines', () => {
  it('a session channel sealed by node:crypto opens under noble and back, the same frames', () => {
    const sessionKey = new Uint8Array(32).fill(3);
    const client = new SessionChannel(sessionKey, 'client', NOBLE_CHACHA);
    const nobleNode = new SessionChannel(sessionKey, 'node', NOBLE_CHACHA);
    const node = new SessionChannel(sessionKey, 'node', NODE_CHACHA);
    for (const text of ['{"type":"ping"}', '', 'é'.repeat(300)]) {
      const request = client.seal(text);
      expect(node.open(request)).toBe(text);
      const reply = node.seal(text);
      expect(reply).toBe(nobleNode.seal(text));
      expect(client.open(reply)).toBe(text);
    }
  });

  function run(aeads: [ChaChaAead, ChaChaAead]): Uint8Array[] {
    const seeded = (seed: number) => {
      const random = new Random(seed);
      return (length: number) => random.bytes(length);
    };
    const svmk = new Uint8Array(32).fill(7);
    const initiator = new SecureChannel({
      role: 'initiator',
      localId: toNodeId('00000000000000a1'),
      peerId: toNodeId('00000000000000b2'),
      svmk,
      randomBytes: seeded(1),
      aead: aeads[0],
    });
    const responder = new SecureChannel({
      role: 'responder',
      localId: toNodeId('00000000000000b2'),
      svmk,
      randomBytes: seeded(2),
      aead: aeads[1],
    });
    const wire: Uint8Array[] = [];
    const deliver = (to: SecureChannel, frames: Uint8Array[]): ChannelStep[] =>
      frames.map((frame) => (wire.push(frame), to.receive(frame)));
    let toResponder = initiator.start().frames;
    while (toResponder.length > 0) {
      const back = deliver(responder, toResponder).flatMap((s) => s.frames);
      toResponder = deliver(initiator, back).flatMap((s) => s.frames);
    }
    expect([initiator.state, responder.state]).toEqual(['open', 'open']);
    const payload = Uint8Array.from({ length: 500 }, (_, i) => i & 0xff);
    expect(deliver(responder, [initiator.seal(payload)])[0].payloads).toEqual([payload]);
    expect(deliver(initiator, [responder.seal(payload)])[0].payloads).toEqual([payload]);
    return wire;
  }

  it('a peer link between a node:crypto end and a noble end opens and carries frames both ways, byte for byte', () => {
    const reference = run([NOBLE_CHACHA, NOBLE_CHACHA]);
    expect(run([NODE_CHACHA, NOBLE_CHACHA])).toEqual(reference);
    expect(run([NOBLE_CHACHA, NODE_CHACHA])).toEqual(reference);
    expect(run([NODE_CHACHA, NODE_CHACHA])).toEqual(reference);
  });
});
