/** thin_delta's XML (plain and --verbose, as 0.9 prints them) and a JSON form. */
import { type Output, ascii } from '../../io/output.js';
import type { DeltaSink } from './delta.js';
import type { Metadata } from '../metadata.js';

type Kind = 'left_only' | 'right_only' | 'different' | 'same';

/** Pre-encoded element starts and ends, by kind. */
const OPEN_EMPTY: Record<Kind, Uint8Array> = {
  left_only: ascii('    <left_only begin="'),
  right_only: ascii('    <right_only begin="'),
  different: ascii('    <different begin="'),
  same: ascii('    <same begin="'),
};
const LENGTH = ascii('" length="');
const END = ascii('"/>\n');
const RANGE = ascii('      <range begin="');
const DATA_BEGIN = ascii('" data_begin="');
const LEFT_DATA = ascii('" left_data_begin="');
const RIGHT_DATA = ascii('" right_data_begin="');

export function deltaHeader(md: Metadata, left: number, right: number): string {
  const v = md.view;
  // thin_delta prints the superblock it read: with -m, the snapshot's copy
  // (whose held root and data space map root are zero).
  const snap = v.heldRoot ? ` metadata_snap="${v.heldRoot}"` : '';
  return `<superblock uuid="" time="${v.time}" transaction="${v.transactionId}" data_block_size="${v.dataBlockSize}" nr_data_blocks="${v.dataSpaceMapRoot.nrBlocks}"${snap}>\n  <diff left="${left}" right="${right}">\n`;
}

export const DELTA_FOOTER = '  </diff>\n</superblock>\n';

/** Adjacent ranges of one kind merge into one element. */
export class SimpleDeltaWriter implements DeltaSink {
  private kind: Kind | undefined;
  private vbegin = 0;
  private vend = 0;

  constructor(private readonly out: Output) {}

  private add(kind: Kind, vbegin: number, len: number): void {
    if (this.kind === kind && vbegin === this.vend) {
      this.vend += len;
      return;
    }
    this.emit();
    this.kind = kind;
    this.vbegin = vbegin;
    this.vend = vbegin + len;
  }

  private emit(): void {
    if (!this.kind) return;
    this.out
      .raw(OPEN_EMPTY[this.kind])
      .num(this.vbegin)
      .raw(LENGTH)
      .num(this.vend - this.vbegin)
      .raw(END);
  }

  leftOnly(v: number, _d: number, len: number): void {
    this.add('left_only', v, len);
  }
  rightOnly(v: number, _d: number, len: number): void {
    this.add('right_only', v, len);
  }
  differ(v: number, _l: number, _r: number, len: number): void {
    this.add('different', v, len);
  }
  same(v: number, _d: number, len: number): void {
    this.add('same', v, len);
  }
  complete(): void {
    this.emit();
  }
}

/** Every range with its data blocks, grouped by kind. */
export class VerboseDeltaWriter implements DeltaSink {
  private kind: Kind | undefined;

  constructor(private readonly out: Output) {}

  private begin(kind: Kind): void {
    if (this.kind === kind) return;
    if (this.kind) this.out.text('    </').text(this.kind).text('>\n');
    this.kind = kind;
    this.out.text('    <').text(kind).text('>\n');
  }

  leftOnly(v: number, d: number, len: number): void {
    this.begin('left_only');
    this.out.raw(RANGE).num(v).raw(DATA_BEGIN).num(d).raw(LENGTH).num(len).raw(END);
  }
  rightOnly(v: number, d: number, len: number): void {
    this.begin('right_only');
    this.out.raw(RANGE).num(v).raw(DATA_BEGIN).num(d).raw(LENGTH).num(len).raw(END);
  }
  differ(v: number, l: number, r: number, len: number): void {
    this.begin('different');
    this.out.raw(RANGE).num(v).raw(LEFT_DATA).num(l).raw(RIGHT_DATA).num(r).raw(LENGTH).num(len).raw(END);
  }
  same(v: number, d: number, len: number): void {
    this.begin('same');
    this.out.raw(RANGE).num(v).raw(DATA_BEGIN).num(d).raw(LENGTH).num(len).raw(END);
  }
  complete(): void {
    if (this.kind) this.out.text('    </').text(this.kind).text('>\n');
  }
}

/** `{"left": L, "right": R, "ranges": [["same", begin, length, left_data, right_data], ...]}` (data null where unmapped). */
export class JsonDeltaWriter implements DeltaSink {
  private first = true;

  constructor(
    private readonly out: Output,
    left: number,
    right: number,
  ) {
    out.text(`{"left":${left},"right":${right},"ranges":[`);
  }

  private row(kind: Kind, v: number, len: number, l: number | null, r: number | null): void {
    this.out
      .text(this.first ? '\n' : ',\n')
      .text(`["${kind}",`)
      .num(v)
      .text(',')
      .num(len)
      .text(`,${l ?? 'null'},${r ?? 'null'}]`);
    this.first = false;
  }

  leftOnly(v: number, d: number, len: number): void {
    this.row('left_only', v, len, d, null);
  }
  rightOnly(v: number, d: number, len: number): void {
    this.row('right_only', v, len, null, d);
  }
  differ(v: number, l: number, r: number, len: number): void {
    this.row('different', v, len, l, r);
  }
  same(v: number, d: number, len: number): void {
    this.row('same', v, len, d, d);
  }
  complete(): void {
    this.out.text('\n]}\n');
  }
}
