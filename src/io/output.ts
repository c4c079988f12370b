/**
 * A large output buffer for text that is mostly ASCII and numbers (XML,
 * human-readable and JSON dumps). Digits are written straight into bytes:
 * a dump of ten million mappings makes no per-mapping strings.
 */
import { closeSync, openSync, writeSync } from 'node:fs';

/** Encodes a constant once, for `Output.raw`. */
export function ascii(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'latin1'));
}

/** 10^i, for counting digits without dividing. */
const POW10 = Array.from({ length: 17 }, (_, i) => 10 ** i);
/** "00".."99" as byte pairs: a number is written two digits per division. */
const PAIRS = Uint8Array.from({ length: 200 }, (_, i) => 48 + (i & 1 ? (i >> 1) % 10 : Math.floor((i >> 1) / 10)));

export class Output {
  private buf: Buffer;
  private pos = 0;

  /** Writes to `fd`; the caller owns the descriptor unless opened with Output.toFile. */
  constructor(
    private readonly fd: number,
    private readonly ownsFd = false,
    size = 1 << 20,
  ) {
    this.buf = Buffer.allocUnsafe(size);
  }

  static toFile(path: string): Output {
    return new Output(openSync(path, 'w', 0o644), true);
  }

  static stdout(): Output {
    return new Output(1);
  }

  /** ASCII (or any string: multi-byte text is encoded as UTF-8). */
  text(s: string): this {
    if (this.pos + s.length * 3 > this.buf.length) {
      this.flush();
      if (s.length * 3 > this.buf.length) this.buf = Buffer.allocUnsafe(s.length * 3);
    }
    this.pos += this.buf.write(s, this.pos, 'utf8');
    return this;
  }

  /**
   * Pre-encoded bytes (see `ascii`). A byte loop beats Buffer.write and
   * TypedArray.set for the short constants of XML and text dumps.
   */
  raw(bytes: Uint8Array): this {
    const n = bytes.length;
    if (this.pos + n > this.buf.length) {
      this.flush();
      if (n > this.buf.length) this.buf = Buffer.allocUnsafe(n);
    }
    const buf = this.buf;
    let p = this.pos;
    for (let i = 0; i < n; i++) buf[p++] = bytes[i];
    this.pos = p;
    return this;
  }

  /** A non-negative integer below 2^53 in decimal. */
  num(n: number): this {
    if (this.pos + 20 > this.buf.length) this.flush();
    const buf = this.buf;
    if (n < 10) {
      buf[this.pos++] = 48 + n;
      return this;
    }
    // Length by comparison (no division), then two digits per division from a table.
    let digits = 2;
    while (digits < 16 && n >= POW10[digits]) digits++;
    let p = this.pos + digits;
    this.pos = p;
    // Above 2^31 in doubles until the rest fits an int32.
    let v = n;
    while (v >= 0x80000000) {
      const q = Math.floor(v / 100);
      const r = (v - q * 100) * 2;
      buf[--p] = PAIRS[r + 1];
      buf[--p] = PAIRS[r];
      v = q;
    }
    let w = v | 0;
    while (w >= 100) {
      const q = (w / 100) | 0;
      const r = (w - q * 100) * 2;
      buf[--p] = PAIRS[r + 1];
      buf[--p] = PAIRS[r];
      w = q;
    }
    if (w >= 10) {
      buf[--p] = PAIRS[w * 2 + 1];
      buf[--p] = PAIRS[w * 2];
    } else {
      buf[--p] = 48 + w;
    }
    return this;
  }

  flush(): void {
    let done = 0;
    while (done < this.pos) {
      try {
        done += writeSync(this.fd, this.buf, done, this.pos - done);
      } catch (e) {
        // A pipe that is not ready (stdout to a slow reader) says EAGAIN: try again.
        const code = (e as NodeJS.ErrnoException).code;
        // The reader went away (dmthin dump | head): stop quietly, as a filter should.
        if (code === 'EPIPE') process.exit(0);
        if (code !== 'EAGAIN') throw e;
      }
    }
    this.pos = 0;
  }

  close(): void {
    this.flush();
    if (this.ownsFd) closeSync(this.fd);
  }
}
