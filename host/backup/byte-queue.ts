// Bytes that arrive in pieces of any size (a file read, console pieces, a download), taken out
// in the sizes a reader asks for. Holds only what was pulled and not yet taken.

export class ByteQueue {
  private readonly pieces: Uint8Array[] = [];
  private offset = 0;
  private length = 0;
  private ended = false;

  get available(): number {
    return this.length;
  }

  /** Pulls from `source` until `count` bytes are held; false if the source ends first. */
  async fill(source: AsyncIterator<Uint8Array>, count: number): Promise<boolean> {
    while (this.length < count && !this.ended) {
      const item = await source.next();
      if (item.done) this.ended = true;
      else if (item.value.length > 0) {
        this.pieces.push(item.value);
        this.length += item.value.length;
      }
    }
    return this.length >= count;
  }

  /** Puts bytes back in front (what a reader peeked at). */
  unshift(bytes: Uint8Array): void {
    if (this.offset > 0) {
      this.pieces[0] = this.pieces[0].subarray(this.offset);
      this.offset = 0;
    }
    this.pieces.unshift(bytes);
    this.length += bytes.length;
  }

  /** The next `count` bytes, copied out (throws RangeError if fewer are held). */
  take(count: number): Uint8Array {
    if (count > this.length) throw new RangeError(`take ${count}: ${this.length} bytes held`);
    const out = new Uint8Array(count);
    for (let at = 0; at < count;) {
      const piece = this.pieces[0];
      const part = Math.min(count - at, piece.length - this.offset);
      out.set(piece.subarray(this.offset, this.offset + part), at);
      at += part;
      this.offset += part;
      if (this.offset === piece.length) {
        this.pieces.shift();
        this.offset = 0;
      }
    }
    this.length -= count;
    return out;
  }
}
