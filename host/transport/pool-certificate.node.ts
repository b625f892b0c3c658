// The pool's TLS certificate (issue 14): one self-signed ECDSA P-256 certificate per pool,
// made by `hsmpool up` (or supplied), shared by every member like the SVMK, and pinned by the
// SDK and the consoles: a client trusts exactly this certificate, not the system's CAs.
// Node's crypto makes the key and the signature; the certificate body is DER written here
// (X.509 v3: subject = issuer = "hsmpool pool <id>", subjectAltName = the nodes' hosts).

import { createHash, generateKeyPairSync, sign, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';

/** How long a pool certificate is valid by default (it is pinned, so renewal is explicit). */
export const POOL_CERTIFICATE_DAYS = 3650;
/** Hosts one certificate may name (subjectAltName entries). */
export const POOL_CERTIFICATE_HOSTS_MAX = 64;

export interface PoolCertificate {
  /** PEM of the certificate: public, given to clients and consoles to pin. */
  readonly certPem: string;
  /** PEM (PKCS#8) of its private key: secret, only in members' data directories (0600). */
  readonly keyPem: string;
  /** SHA-256 of the certificate's DER, hex: what a client compares when it pins. */
  readonly fingerprint: string;
}

// ---- DER ----

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
const tlv = (tag: number, body: Buffer): Buffer =>
  Buffer.concat([Buffer.from([tag]), length(body.length), body]);
const sequence = (...parts: Buffer[]): Buffer => tlv(0x30, Buffer.concat(parts));
const set = (...parts: Buffer[]): Buffer => tlv(0x31, Buffer.concat(parts));
/**
 * A non-negative DER INTEGER from big-endian bytes, in its one minimal encoding (X.690 8.3.2):
 * leading zero bytes dropped, one put back where the next byte's top bit would make it
 * negative. Parsers refuse any other ("illegal padding"): a random serial starting 0x00 did
 * that to 1 certificate in about 150.
 */
export function derInteger(bytes: Uint8Array): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0 && bytes[start + 1] < 0x80) start++;
  const body = Buffer.from(bytes.subarray(start));
  return tlv(
    0x02,
    body.length === 0 || body[0] & 0x80 ? Buffer.concat([Buffer.from([0]), body]) : body,
  );
}
const utf8String = (text: string): Buffer => tlv(0x0c, Buffer.from(text, 'utf8'));
const octetString = (bytes: Buffer): Buffer => tlv(0x04, bytes);
const bitString = (bytes: Buffer): Buffer => tlv(0x03, Buffer.concat([Buffer.from([0]), bytes]));
const explicit = (n: number, body: Buffer): Buffer => tlv(0xa0 + n, body);

function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split('.').map(Number);
  const bytes = [40 * a + b];
  for (const arc of rest) {
    const chunk = [arc & 0x7f];
    for (let v = arc >>> 7; v > 0; v >>>= 7) chunk.unshift((v & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return tlv(0x06, Buffer.from(bytes));
}

/** UTCTime before 2050, GeneralizedTime after (RFC 5280 4.1.2.5). */
function time(date: Date): Buffer {
  const iso = date.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
  return date.getUTCFullYear() < 2050
    ? tlv(0x17, Buffer.from(iso.slice(2), 'ascii'))
    : tlv(0x18, Buffer.from(iso, 'ascii'));
}

function subjectAltName(hosts: readonly string[]): Buffer {
  const names = hosts.map((host) => {
    const family = isIP(host);
    if (family === 4) return tlv(0x87, Buffer.from(host.split('.').map(Number)));
    if (family === 6) return tlv(0x87, ipv6Bytes(host));
    return tlv(0x82, Buffer.from(host, 'ascii'));
  });
  return sequence(oid('2.5.29.17'), octetString(sequence(...names)));
}

function ipv6Bytes(address: string): Buffer {
  const [head, tail = ''] = address.split('::');
  const groups = (part: string) => (part ? part.split(':') : []);
  const fill = 8 - groups(head).length - groups(tail).length;
  const all = [
    ...groups(head),
    ...Array<string>(address.includes('::') ? fill : 0).fill('0'),
    ...groups(tail),
  ];
  return Buffer.from(all.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]));
}

const ECDSA_WITH_SHA256 = sequence(oid('1.2.840.10045.4.3.2'));

/** A new pool certificate naming `hosts` (hostnames or IP addresses of the nodes). */
export function createPoolCertificate(
  poolName: string,
  hosts: readonly string[],
  days = POOL_CERTIFICATE_DAYS,
  now = new Date(),
): PoolCertificate {
  if (hosts.length === 0 || hosts.length > POOL_CERTIFICATE_HOSTS_MAX)
    throw new RangeError(`a pool certificate names 1 to ${POOL_CERTIFICATE_HOSTS_MAX} hosts`);
  for (const host of hosts)
    if (!isIP(host) && !/^[A-Za-z0-9.-]{1,253}$/.test(host))
      throw new RangeError(`not a host name or IP address: ${host}`);
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const name = sequence(set(sequence(oid('2.5.4.3'), utf8String(`hsmpool pool ${poolName}`))));
  const serial = createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest()
    .subarray(0, 16);
  serial[0] &= 0x7f;
  const basicConstraints = sequence(
    oid('2.5.29.19'),
    tlv(0x01, Buffer.from([0xff])),
    octetString(sequence()),
  );
  const tbs = sequence(
    explicit(0, derInteger(Buffer.from([2]))),
    derInteger(serial),
    ECDSA_WITH_SHA256,
    name,
    sequence(time(now), time(new Date(now.getTime() + days * 86_400_000))),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
    explicit(3, sequence(basicConstraints, subjectAltName(hosts))),
  );
  const signature = sign('sha256', tbs, privateKey);
  const der = sequence(tbs, ECDSA_WITH_SHA256, bitString(signature));
  const certPem = `-----BEGIN CERTIFICATE-----\n${der
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\n')}\n-----END CERTIFICATE-----\n`;
  const check = new X509Certificate(certPem);
  if (!check.verify(publicKey)) throw new Error('pool certificate: the signature does not verify');
  return {
    certPem,
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    fingerprint: certificateFingerprint(certPem),
  };
}

/** SHA-256 of a certificate's DER, lowercase hex (the pin). */
export function certificateFingerprint(certPem: string): string {
  return new X509Certificate(certPem).fingerprint256.replace(/:/g, '').toLowerCase();
}
