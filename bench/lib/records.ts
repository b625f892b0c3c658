// Real encoded object records of a chosen size, made fast: the core's encoder produces one
// template, then each record gets its own name digits and wrapped-key bytes. The core's
// decoder (store_apply) validates every record the benchmarks insert.

import type { Core } from '../../host/core/core.ts';
import { utf8, type ObjectRecord } from '../../host/core/records.ts';
import { fillRandom } from './stats.ts';

const NAME_PREFIX = 'obj-';
const NAME_DIGITS = 7;
/** Names are obj-0000000 .. obj-9999999. */
export const RECORD_INDEX_MAX = 10 ** NAME_DIGITS - 1;
const HEADER_SIZE = 8;
const OBJECT_FIXED_SIZE = 8;

export interface RecordShape {
  /** Encoded record length in bytes. */
  readonly size: number;
  readonly owner: string;
  readonly acl: ObjectRecord['acl'];
}

/** Small record: no ACL, 29 bytes of wrapped key. */
export const SHAPE_64: RecordShape = { size: 64, owner: 'owner-01', acl: [] };
/** Large record: two ACL entries and about 250 bytes of wrapped key (an RSA-2048 key would be larger). */
export const SHAPE_300: RecordShape = {
  size: 300,
  owner: 'owner-01',
  acl: [
    { user: 'alice', use: true, export: false, remove: false },
    { user: 'operator-7', use: true, export: true, remove: true },
  ],
};

export class RecordFactory {
  readonly size: number;
  private readonly template: Uint8Array;
  private readonly nameOffset: number;
  private readonly wrappedOffset: number;

  constructor(core: Core, shape: RecordShape) {
    const nameLength = NAME_PREFIX.length + NAME_DIGITS;
    const aclSize = shape.acl.reduce((sum, entry) => sum + 2 + utf8(entry.user).length, 0);
    const wrappedLength =
      shape.size -
      HEADER_SIZE -
      nameLength -
      OBJECT_FIXED_SIZE -
      utf8(shape.owner).length -
      aclSize;
    if (wrappedLength < 1)
      throw new RangeError(`shape.size: ${shape.size} bytes is too small for this shape`);
    this.template = core.encode({
      kind: 'object',
      name: NAME_PREFIX + '0'.repeat(NAME_DIGITS),
      keyType: 'aes-256',
      exportable: false,
      temporary: false,
      owner: shape.owner,
      acl: shape.acl,
      wrapped: new Uint8Array(wrappedLength),
    });
    if (this.template.length !== shape.size) {
      throw new Error(`template is ${this.template.length} bytes, expected ${shape.size}`);
    }
    this.size = shape.size;
    this.nameOffset = HEADER_SIZE + NAME_PREFIX.length;
    this.wrappedOffset = shape.size - wrappedLength;
  }

  /** Writes record `index` (its name digits, fresh wrapped bytes from `next`) into `out`. */
  write(out: Uint8Array, index: number, next: () => number): void {
    if (!Number.isInteger(index) || index < 0 || index > RECORD_INDEX_MAX)
      throw new RangeError(`index: ${index}`);
    if (out.length !== this.size)
      throw new RangeError(`out: expected ${this.size} bytes, got ${out.length}`);
    out.set(this.template);
    let value = index;
    for (let i = NAME_DIGITS - 1; i >= 0; i--) {
      out[this.nameOffset + i] = 0x30 + (value % 10);
      value = Math.floor(value / 10);
    }
    fillRandom(out.subarray(this.wrappedOffset), next);
  }

  make(index: number, next: () => number): Uint8Array {
    const out = new Uint8Array(this.size);
    this.write(out, index, next);
    return out;
  }
}
