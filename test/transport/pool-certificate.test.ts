// The pool's TLS certificate (host/transport/pool-certificate.node.ts): Node's X.509 parser
// reads it, its signature verifies, it names the hosts given, and a TLS client that pins it
// connects while one that pins another pool's certificate (or trusts the system CAs) does not.

import { X509Certificate } from 'node:crypto';
import { createServer, request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  certificateFingerprint,
  createPoolCertificate,
  derInteger,
} from '../../host/transport/pool-certificate.node.ts';

const pool = createPoolCertificate('p1', ['127.0.0.1', 'localhost', '::1']);
const other = createPoolCertificate('p2', ['127.0.0.1']);
const server = createServer({ cert: pool.certPem, key: pool.keyPem }, (_, response) =>
  response.end('hello'),
);
let port = 0;

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => server.close());

function get(ca?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path: '/', ca }, (response) => {
      let body = '';
      response.on('data', (chunk) => (body += chunk));
      response.on('end', () => resolve(body));
    })
      .on('error', reject)
      .end();
  });
}

describe('pool certificate', () => {
  it('is a self-signed X.509 v3 certificate naming the hosts, with its pin', () => {
    const certificate = new X509Certificate(pool.certPem);
    expect(certificate.subject).toBe('CN=hsmpool pool p1');
    expect(certificate.issuer).toBe(certificate.subject);
    expect(certificate.verify(certificate.publicKey)).toBe(true);
    expect(certificate.subjectAltName).toBe(
      'IP Address:127.0.0.1, DNS:localhost, IP Address:0:0:0:0:0:0:0:1',
    );
    expect(certificate.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(pool.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(certificateFingerprint(pool.certPem)).toBe(pool.fingerprint);
    expect(other.fingerprint).not.toBe(pool.fingerprint);
  });

  it('a client pinning it connects; pinning another pool, or none, is refused', async () => {
    expect(await get(pool.certPem)).toBe('hello');
    await expect(get(other.certPem)).rejects.toThrow();
    await expect(get()).rejects.toThrow(/self.signed/i);
  });

  it('writes integers in their one minimal DER encoding', () => {
    const der = (bytes: number[]) => [...derInteger(Buffer.from(bytes))];
    expect(der([2])).toEqual([0x02, 0x01, 0x02]);
    expect(der([0x80])).toEqual([0x02, 0x02, 0x00, 0x80]);
    expect(der([0x00, 0x01])).toEqual([0x02, 0x01, 0x01]);
    expect(der([0x00, 0x80])).toEqual([0x02, 0x02, 0x00, 0x80]);
    expect(der([0x00, 0x00, 0x7f, 0xff])).toEqual([0x02, 0x02, 0x7f, 0xff]);
    expect(der([0x00, 0x00])).toEqual([0x02, 0x01, 0x00]);
    expect(der([])).toEqual([0x02, 0x01, 0x00]);
  });

  it('every new certificate parses (the random serial once gave 1 in about 150 a padded integer)', () => {
    // 1,000 certificates: with the old encoder, the chance that none failed was about 0.2 %.
    for (let i = 0; i < 1000; i++) {
      const certificate = new X509Certificate(createPoolCertificate('p', ['127.0.0.1']).certPem);
      expect(certificate.serialNumber).toMatch(/^[0-9A-F]{1,32}$/); // positive, at most 16 bytes
    }
  });

  it('refuses bad input: no hosts, too many, or a name that is not a host', () => {
    expect(() => createPoolCertificate('p', [])).toThrow(RangeError);
    expect(() => createPoolCertificate('p', Array(65).fill('127.0.0.1'))).toThrow(RangeError);
    expect(() => createPoolCertificate('p', ['bad host'])).toThrow(RangeError);
  });
});
