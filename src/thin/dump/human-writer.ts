/** thin_dump's `--format human_readable`, as thin-provisioning-tools 0.9 prints it. */
import { type Output, ascii } from '../../io/output.js';
import type { DumpHeader, DumpSink } from './dump.js';
import type { ThinDevice } from '../metadata.js';

export class HumanWriter implements DumpSink {
  constructor(private readonly out: Output) {}

  begin(h: DumpHeader): void {
    this.out
      .text('begin superblock: "')
      .text(h.uuid)
      .text('", ')
      .num(h.time)
      .text(', ')
      .text(String(h.transaction))
      .text(', ')
      .num(h.flags)
      .text(', ')
      .num(h.version)
      .text(', ')
      .num(h.dataBlockSize)
      .text(', ')
      .num(h.nrDataBlocks)
      .text('\n');
  }

  beginDevice(d: ThinDevice): void {
    this.out
      .text('device: ')
      .num(d.devId)
      .text('\nmapped_blocks: ')
      .num(d.mappedBlocks)
      .text('\ntransaction: ')
      .text(String(d.transactionId))
      .text('\ncreation time: ')
      .num(d.creationTime)
      .text('\nsnap time: ')
      .num(d.snapshottedTime)
      .text('\n');
  }

  run(origin: number, data: number, length: number, time: number): void {
    if (length === 1) {
      this.out.raw(INDENT).num(origin).raw(ARROW).num(data).raw(COMMA).num(time).raw(NL);
    } else {
      this.out
        .raw(OPEN)
        .num(origin)
        .raw(DOTS)
        .num(origin + length - 1)
        .raw(RANGE_ARROW)
        .num(data)
        .raw(DOTS)
        .num(data + length - 1)
        .raw(CLOSE)
        .num(time)
        .raw(NL);
    }
  }

  endDevice(): void {
    this.out.text('\n');
  }

  end(): void {
    this.out.text('end superblock\n');
  }
}

const INDENT = ascii('    ');
const ARROW = ascii(' -> ');
const COMMA = ascii(', ');
const NL = ascii('\n');
const OPEN = ascii('    (');
const DOTS = ascii('..');
const RANGE_ARROW = ascii(') -> (');
const CLOSE = ascii('), ');
