// SCRAM-SHA-256: RFC 7677's example end to end on both state machines, the scrypt variant,
// refusals of malformed and out-of-order messages, the client's KDF limits, and that the client
// authenticates the node. (The strict base64 every frame relies on: transport/codec.test.ts.)

import { describe, expect, it } from 'vitest';
import { CryptoEngine } from '../../host/wire/crypto-engine.ts';
import { fromBase64 } from '../../host/wire/bytes.ts';
import {
  DEFAULT_KDF_LIMITS,
  ScramClient,
  ScramServer,
  parseClientFirst,
  saltPassword,
  scramKeys,
} from '../../host/wire/scram.ts';

const engine = new CryptoEngine();
const noble = new CryptoEngine({ subtle: null });

/** RFC 7677, section 3. */
const RFC = {
  user: 'user',
  password: 'pencil',
  clientNonce: 'rOprNGfwEbeRWgbNEkqO',
  serverNonce: '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0',
  salt: 'W22ZaJ0SNY7soEsUEjb6gQ==',
  clientFirst: 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO',
  serverFirst:
    'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
  clientFinal:
    'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
  serverFinal: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
};

async function rfcCredentials(kdfEngine = engine) {
  const salt = fromBase64(RFC.salt)!;
  const kdf = { kdf: 'pbkdf2-sha256', iterations: 4096 } as const;
  const { storedKey, serverKey } = scramKeys(
    await saltPassword(kdfEngine, RFC.password, salt, kdf),
  );
  return { kdf, salt, storedKey, serverKey };
}

/** The RFC's client and a node holding its verifier, through the client's final message
 * (its proof from `password`). */
async function rfcExchange(password: string) {
  const client = new ScramClient(RFC.user, RFC.clientNonce);
  const server = ScramServer.start(
    parseClientFirst(client.clientFirst)!,
    RFC.serverNonce,
    await rfcCredentials(),
  );
  const parameters = client.receiveServerFirst(server.serverFirst);
  const final = client.clientFinal(
    await saltPassword(engine, password, parameters.salt, parameters.kdf),
  );
  return { client, server, final };
}

describe('SCRAM-SHA-256, RFC 7677 example', () => {
  it('the client produces the RFC messages', async () => {
    const client = new ScramClient(RFC.user, RFC.clientNonce);
    expect(client.clientFirst).toBe(RFC.clientFirst);
    const parameters = client.receiveServerFirst(RFC.serverFirst);
    expect(parameters.kdf).toEqual({ kdf: 'pbkdf2-sha256', iterations: 4096 });
    expect(
      client.clientFinal(await saltPassword(engine, RFC.password, parameters.salt, parameters.kdf)),
    ).toBe(RFC.clientFinal);
    expect(client.receiveServerFinal(RFC.serverFinal)).toHaveLength(32);
  });

  it('the node produces the RFC messages, with WebCrypto and with noble', async () => {
    for (const kdfEngine of [engine, noble]) {
      const server = ScramServer.start(
        parseClientFirst(RFC.clientFirst)!,
        RFC.serverNonce,
        await rfcCredentials(kdfEngine),
      );
      expect(server.serverFirst).toBe(RFC.serverFirst);
      const outcome = server.finish(RFC.clientFinal);
      expect(outcome.result).toBe('ok');
      if (outcome.result === 'ok') expect(outcome.serverFinal).toBe(RFC.serverFinal);
    }
  });

  it('both sides derive the same session key', async () => {
    const { client, server, final } = await rfcExchange(RFC.password);
    const outcome = server.finish(final);
    if (outcome.result !== 'ok') throw new Error('login failed');
    expect(client.receiveServerFinal(outcome.serverFinal)).toEqual(outcome.sessionKey);
  });

  it('a wrong password gives a proof the node refuses', async () => {
    const { server, final } = await rfcExchange('pencil2');
    expect(server.finish(final).result).toBe('wrong-proof');
  });

  it('the client refuses a node that does not hold the verifier (wrong server signature)', async () => {
    const client = new ScramClient(RFC.user, RFC.clientNonce);
    client.receiveServerFirst(RFC.serverFirst);
    client.clientFinal(
      await saltPassword(engine, RFC.password, fromBase64(RFC.salt)!, {
        kdf: 'pbkdf2-sha256',
        iterations: 4096,
      }),
    );
    expect(() =>
      client.receiveServerFinal('v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='),
    ).toThrow(expect.objectContaining({ code: 1002 }));
  });
});

describe('SCRAM with an scrypt verifier', () => {
  it('carries the parameters in the k extension and logs in', async () => {
    const kdf = { kdf: 'scrypt', log2N: 10, r: 8, p: 1 } as const;
    const salt = new Uint8Array(16).fill(7);
    const { storedKey, serverKey } = scramKeys(await saltPassword(engine, 'hunter22', salt, kdf));
    const client = new ScramClient('alice', 'abcdefghijklmnop');
    const server = ScramServer.start(parseClientFirst(client.clientFirst)!, 'qrstuvwxyz012345', {
      kdf,
      salt,
      storedKey,
      serverKey,
    });
    expect(server.serverFirst).toMatch(/,i=1,k=scrypt:10:8:1$/);
    const parameters = client.receiveServerFirst(server.serverFirst);
    expect(parameters.kdf).toEqual(kdf);
    const outcome = server.finish(
      client.clientFinal(await saltPassword(engine, 'hunter22', parameters.salt, parameters.kdf)),
    );
    expect(outcome.result).toBe('ok');
  });
});

describe('SCRAM refusals', () => {
  it('the node parses only "n,,n=<user>,r=<nonce>"', () => {
    for (const message of [
      'y,,n=user,r=rOprNGfwEbeRWgbNEkqO',
      'p=tls-unique,,n=user,r=rOprNGfwEbeRWgbNEkqO',
      'n,a=admin,n=user,r=rOprNGfwEbeRWgbNEkqO',
      'n,,n=user',
      'n,,r=rOprNGfwEbeRWgbNEkqO,n=user',
      'n,,n=user,r=short',
      'n,,n=,r=rOprNGfwEbeRWgbNEkqO',
      'n,,m=x,n=user,r=rOprNGfwEbeRWgbNEkqO',
      'n,,n=us=er,r=rOprNGfwEbeRWgbNEkqO',
      `n,,n=user,r=${'a'.repeat(2000)}`,
      '',
    ]) {
      expect(parseClientFirst(message), message).toBeUndefined();
    }
    expect(parseClientFirst('n,,n=a=2Cb=3D,r=rOprNGfwEbeRWgbNEkqO')?.user).toBe('a,b=');
  });

  it('the node refuses a client-final with another nonce or channel binding as malformed', async () => {
    const server = ScramServer.start(
      parseClientFirst(RFC.clientFirst)!,
      RFC.serverNonce,
      await rfcCredentials(),
    );
    expect(server.finish(RFC.clientFinal.replace('c=biws', 'c=eSws')).result).toBe('malformed');
    expect(server.finish(RFC.clientFinal.replace('%hv', '%hw')).result).toBe('malformed');
    expect(server.finish('c=biws,r=x').result).toBe('malformed');
    expect(server.finish(RFC.clientFinal.replace(/p=.*$/, 'p=AAAA')).result).toBe('malformed');
  });

  it('the client refuses a server-first that does not extend its nonce, or asks for too little or too much hashing', () => {
    const attempt = (serverFirst: string) => () =>
      new ScramClient(RFC.user, RFC.clientNonce).receiveServerFirst(serverFirst);
    for (const [serverFirst, code] of [
      ['r=someoneElsesNonce12345,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096', 1003],
      [`r=${RFC.clientNonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096`, 1003],
      [RFC.serverFirst.replace('i=4096', 'i=1'), 1002],
      [RFC.serverFirst.replace('i=4096', 'i=99999999'), 1002],
      [RFC.serverFirst.replace('i=4096', 'i=1,k=scrypt:22:8:1'), 1002],
      [RFC.serverFirst.replace('i=4096', 'i=4096,k=scrypt:14:8:1'), 1003],
    ] as const)
      expect(attempt(serverFirst), serverFirst).toThrow(expect.objectContaining({ code }));
    expect(DEFAULT_KDF_LIMITS.pbkdf2IterationsMin).toBe(4096);
  });

  it('the client refuses steps out of order', async () => {
    const client = new ScramClient(RFC.user, RFC.clientNonce);
    expect(() => client.clientFinal(new Uint8Array(32))).toThrow(
      expect.objectContaining({ code: 1003 }),
    );
    expect(() => client.receiveServerFinal(RFC.serverFinal)).toThrow(
      expect.objectContaining({ code: 1003 }),
    );
  });
});
