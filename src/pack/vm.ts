/**
 * The instruction set of thin_metadata_pack's block encoding (thin-
 * provisioning-tools, pack format version 3), for reading packs.
 *
 * Each instruction is a byte: tag in the high nibble, operand in the low.
 * The machine keeps a u64 `base`; most instructions change it and emit it
 * as 8 little-endian bytes, `count` times (Count/Count8 prefixes):
 *
 * | tag | name | effect |
 * |---|---|---|
 * | 0 | Set | base = next (nibble: 1, 2, 4, 8 bytes); emit |
 * | 1 | Pos | base += nibble; emit |
 * | 2 | PosW | base += next (nibble = width); emit |
 * | 3 | Neg | base -= nibble; emit |
 * | 4 | NegW | base -= next (nibble = width); emit |
 * | 5 | Const | emit base nibble times |
 * | 6 | Const8 | emit base ((nibble << 8) / byte) times |
 * | 7 | Count | run the next instruction nibble times |
 * | 8 | Count8 | run the next instruction ((nibble << 8) / byte) times |
 * | 9 | Lit | copy nibble bytes |
 * | 10 | LitW | copy next-width bytes |
 * | 11 | ShiftedRun | len = (nibble << 8) / byte; run len u64s (high), then len u64s (low); emit high << 24 / low & 0xffffff |
 *
 * Arithmetic wraps at 64 bits, so base is a BigInt.
 */
import { getU64Big, setU64Big } from '../format/le.js';
import { UsageError } from '../errors.js';

const MASK64 = (1n << 64n) - 1n;

export class PackReader {
  pos = 0;
  constructor(private readonly buf: Uint8Array) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  u8(): number {
    if (this.pos >= this.buf.length) throw new UsageError('pack data ends in the middle of a block');
    return this.buf[this.pos++];
  }

  bytes(n: number): Uint8Array {
    if (this.pos + n > this.buf.length) throw new UsageError('pack data ends in the middle of a literal');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  width(w: number): bigint {
    if (w !== 1 && w !== 2 && w !== 4 && w !== 8) throw new UsageError(`bad operand width ${w} in pack data`);
    let v = 0n;
    const b = this.bytes(w);
    for (let i = w - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    return v;
  }

  u64(): bigint {
    return this.width(8);
  }
}

class Sink {
  buf: Uint8Array;
  len = 0;
  constructor(cap: number) {
    this.buf = new Uint8Array(cap);
  }
  ensure(n: number): void {
    if (this.len + n > this.buf.length) {
      const b = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
      b.set(this.buf.subarray(0, this.len));
      this.buf = b;
    }
  }
  u64(v: bigint): void {
    this.ensure(8);
    setU64Big(this.buf, this.len, v);
    this.len += 8;
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
}

export class PackVm {
  private base = 0n;

  /** Runs instructions until `n` bytes have been emitted into a new array. */
  exec(r: PackReader, n: number): Uint8Array {
    const out = new Sink(n);
    while (out.len < n) this.instr(r, out, 1);
    if (out.len !== n) throw new UsageError(`pack block decodes to ${out.len} bytes, expected ${n}`);
    return out.buf.subarray(0, n);
  }

  private instr(r: PackReader, out: Sink, count: number): void {
    const b = r.u8();
    const tag = b >> 4;
    const nib = b & 0xf;
    const emit = (): void => out.u64(this.base);
    switch (tag) {
      case 0:
        this.base = r.width(nib);
        for (let i = 0; i < count; i++) emit();
        return;
      case 1:
        for (let i = 0; i < count; i++) {
          this.base = (this.base + BigInt(nib)) & MASK64;
          emit();
        }
        return;
      case 2: {
        const d = r.width(nib);
        for (let i = 0; i < count; i++) {
          this.base = (this.base + d) & MASK64;
          emit();
        }
        return;
      }
      case 3:
        for (let i = 0; i < count; i++) {
          this.base = (this.base - BigInt(nib)) & MASK64;
          emit();
        }
        return;
      case 4: {
        const d = r.width(nib);
        for (let i = 0; i < count; i++) {
          this.base = (this.base - d) & MASK64;
          emit();
        }
        return;
      }
      case 5:
        for (let i = 0; i < nib; i++) emit();
        return;
      case 6: {
        const c = (nib << 8) | r.u8();
        for (let i = 0; i < c; i++) emit();
        return;
      }
      case 7:
        this.instr(r, out, nib);
        return;
      case 8:
        this.instr(r, out, (nib << 8) | r.u8());
        return;
      case 9:
        out.bytes(r.bytes(nib));
        return;
      case 10:
        out.bytes(r.bytes(Number(r.width(nib))));
        return;
      case 11: {
        const len = (nib << 8) | r.u8();
        const high = this.exec(r, len * 8);
        const low = this.exec(r, len * 8);
        for (let i = 0; i < len; i++) {
          out.u64(((getU64Big(high, 8 * i) << 24n) | (getU64Big(low, 8 * i) & 0xffffffn)) & MASK64);
        }
        return;
      }
      default:
        throw new UsageError(`bad instruction tag ${tag} in pack data`);
    }
  }
}

/** Encodes a block as one literal (LitW, 2-byte width): valid for any unpacker of the format. */
export function encodeLiteral(block: Uint8Array): Uint8Array {
  const out = new Uint8Array(3 + block.length);
  out[0] = (10 << 4) | 2;
  out[1] = block.length & 0xff;
  out[2] = block.length >> 8;
  out.set(block, 3);
  return out;
}
