/**
 * thin_dump's XML, byte for byte as thin-provisioning-tools 0.9 prints it:
 * two-space indentation, attributes in its order, `flags` always present,
 * single_mapping for runs of one.
 */
import { type Output, ascii } from '../../io/output.js';
import type { DumpHeader, DumpSink } from './dump.js';
import type { ThinDevice } from '../metadata.js';

export class XmlWriter implements DumpSink {
  constructor(private readonly out: Output) {}

  begin(h: DumpHeader): void {
    this.out
      .text('<superblock uuid="')
      .text(escapeXml(h.uuid))
      .text('" time="')
      .num(h.time)
      .text('" transaction="')
      .text(String(h.transaction))
      .text('" flags="')
      .num(h.flags)
      .text('" version="')
      .num(h.version)
      .text('" data_block_size="')
      .num(h.dataBlockSize)
      .text('" nr_data_blocks="')
      .num(h.nrDataBlocks)
      .text('">\n');
  }

  beginDevice(d: ThinDevice): void {
    this.out
      .text('  <device dev_id="')
      .num(d.devId)
      .text('" mapped_blocks="')
      .num(d.mappedBlocks)
      .text('" transaction="')
      .text(String(d.transactionId))
      .text('" creation_time="')
      .num(d.creationTime)
      .text('" snap_time="')
      .num(d.snapshottedTime)
      .text('">\n');
  }

  run(origin: number, data: number, length: number, time: number): void {
    if (length === 1) {
      this.out.raw(SINGLE).num(origin).raw(DATA_BLOCK).num(data).raw(TIME).num(time).raw(END_EMPTY);
    } else {
      this.out.raw(RANGE).num(origin).raw(DATA_BEGIN).num(data).raw(LENGTH).num(length).raw(TIME).num(time).raw(END_EMPTY);
    }
  }

  endDevice(): void {
    this.out.text('  </device>\n');
  }

  end(): void {
    this.out.text('</superblock>\n');
  }
}

const SINGLE = ascii('    <single_mapping origin_block="');
const DATA_BLOCK = ascii('" data_block="');
const RANGE = ascii('    <range_mapping origin_begin="');
const DATA_BEGIN = ascii('" data_begin="');
const LENGTH = ascii('" length="');
const TIME = ascii('" time="');
const END_EMPTY = ascii('"/>\n');

export function escapeXml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] ?? c);
}
