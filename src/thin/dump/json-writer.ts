/**
 * JSON dump: one object, streamed. Runs are arrays
 * `[origin_begin, data_begin, length, time]` so that ten million mappings
 * stay compact and a script can read them without an XML parser:
 * `{"superblock": {...}, "devices": [{"dev_id": 1, ..., "mappings": [[0, 10, 3, 0], ...]}]}`.
 */
import type { Output } from '../../io/output.js';
import type { DumpHeader, DumpSink } from './dump.js';
import type { ThinDevice } from '../metadata.js';

export class JsonWriter implements DumpSink {
  private firstDevice = true;
  private firstRun = true;

  constructor(private readonly out: Output) {}

  begin(h: DumpHeader): void {
    this.out
      .text('{"superblock":{"uuid":')
      .text(JSON.stringify(h.uuid))
      .text(',"time":')
      .num(h.time)
      .text(',"transaction":')
      .text(String(h.transaction))
      .text(',"flags":')
      .num(h.flags)
      .text(',"version":')
      .num(h.version)
      .text(',"data_block_size":')
      .num(h.dataBlockSize)
      .text(',"nr_data_blocks":')
      .num(h.nrDataBlocks);
    if (h.metadataSnap !== undefined) this.out.text(',"metadata_snap":').num(h.metadataSnap);
    this.out.text('},\n"devices":[');
  }

  beginDevice(d: ThinDevice): void {
    this.out.text(this.firstDevice ? '\n' : ',\n');
    this.firstDevice = false;
    this.firstRun = true;
    this.out
      .text('{"dev_id":')
      .num(d.devId)
      .text(',"mapped_blocks":')
      .num(d.mappedBlocks)
      .text(',"transaction":')
      .text(String(d.transactionId))
      .text(',"creation_time":')
      .num(d.creationTime)
      .text(',"snap_time":')
      .num(d.snapshottedTime)
      .text(',"mappings":[');
  }

  run(origin: number, data: number, length: number, time: number): void {
    this.out
      .text(this.firstRun ? '\n[' : ',\n[')
      .num(origin)
      .text(',')
      .num(data)
      .text(',')
      .num(length)
      .text(',')
      .num(time)
      .text(']');
    this.firstRun = false;
  }

  endDevice(): void {
    this.out.text(']}');
  }

  end(): void {
    this.out.text('\n]}\n');
  }
}
