/**
 * `dmthin send`, offline: a thin device's blocks as a stream (format.ts),
 * all of them (full) or only what changed since a base snapshot
 * (incremental: the delta of the two mapping trees, the subtrees both
 * share skipped unread; blocks both map to the same data block are not read). Data is read from the pool's data file or
 * device in runs, and written record by record: memory does not grow with
 * the device.
 */
import { UsageError } from '../errors.js';
import type { ByteSource } from '../io/byte-source.js';
import { openPoolData } from '../thin/pool-data.js';
import { writeFull } from '../io/full-io.js';
import { type DeltaSink, delta, deltaRoots } from '../thin/delta/delta.js';
import { highestKey } from '../pdata/btree/traversal.js';
import { forEachRun } from '../thin/export.js';
import type { Metadata } from '../thin/metadata.js';
import { D_HEAD, HEADER_SIZE, NO_BASE, Z_SIZE, chain, crc32, dataHead, endRecord, writeHeader, zeroRecord } from './format.js';
import { hex, poolIdentity, snapshotIdentity } from './identity.js';

/** Data in one D record at most (or one block): small enough to stay in the CPU's cache between read, checksum and write. */
const MAX_RECORD_BYTES = 1 << 20;

export interface SendOptions {
  /** The base snapshot (an earlier snapshot of the same origin family). */
  base?: number;
  /** The device's size in bytes; default: up to the highest block either device maps. */
  size?: number;
}

export interface SendResult {
  device_id: number;
  base_device_id: number | null;
  identity: string;
  base_identity: string | null;
  data_blocks: number;
  zero_blocks: number;
  records: number;
  bytes: number;
  /** Subtrees the two devices share, passed over unread (counted on each side). */
  shared_subtrees_skipped: number;
  /** The stream checksum the end record holds. */
  checksum: string;
}

export function send(md: Metadata, dataInput: string | ByteSource, devId: number, outFd: number, options: SendOptions = {}): SendResult {
  const devices = md.devices();
  const dev = devices.find((d) => d.devId === devId);
  if (!dev || dev.mappingRoot === undefined) throw new UsageError(`no thin device ${devId} in the metadata`);
  const base = options.base === undefined ? undefined : devices.find((d) => d.devId === options.base);
  if (options.base !== undefined && (!base || base.mappingRoot === undefined))
    throw new UsageError(`no thin device ${options.base} (the base) in the metadata`);
  if (options.base === devId) throw new UsageError('the base and the device sent are the same device');
  const bs = md.view.dataBlockSize * 512;
  const nrData = md.superblock.dataSpaceMapRoot.nrBlocks;
  // Without --size, the device ends at the highest block either maps: the rightmost path of each tree is read to find it.
  const top = (root: number, id: number): number => highestKey(md.reader, root, 8, { kind: 'mappings', devId: id });
  const size = options.size ?? (Math.max(top(dev.mappingRoot, devId), base ? top(base.mappingRoot!, base.devId) : -1) + 1) * bs;
  if (size % bs !== 0) throw new UsageError(`--size ${size} is not a multiple of the pool's block size (${bs} bytes)`);
  const nrBlocks = size / bs;
  const within = (id: number, v: number, n: number): void => {
    if (v + n > nrBlocks) throw new UsageError(`thin device ${id} maps block ${v + n - 1}, past the size asked for (${size} bytes, ${nrBlocks} blocks)`);
  };

  const data = openPoolData(dataInput, nrData, bs);
  try {
    const pool = poolIdentity(md.superblock);
    const identity = snapshotIdentity(pool, dev);
    const baseIdentity = base ? snapshotIdentity(pool, base) : new Uint8Array(32);
    let sum = 0;
    let bytes = 0;
    const put = (b: Uint8Array, n = b.length): void => {
      writeFull(outFd, b, n, null);
      bytes += n;
    };
    const header = writeHeader({
      incremental: !!base,
      blockSize: bs,
      virtualSize: size,
      pool,
      deviceId: devId,
      baseDeviceId: base ? base.devId : NO_BASE,
      identity,
      baseIdentity,
    });
    put(header);
    sum = chain(sum, new DataView(header.buffer).getUint32(HEADER_SIZE - 4, true));
    const totals = { dataBlocks: 0, zeroBlocks: 0, records: 0 };
    const perRecord = Math.max(1, Math.floor(MAX_RECORD_BYTES / bs));
    // One buffer holds a whole D record (head, data, CRC): the data is read straight into it, and the record goes out in one write.
    const rec = new Uint8Array(D_HEAD + perRecord * bs + 4);
    const recView = new DataView(rec.buffer);
    const sendData = (v: number, d: number, n: number): void => {
      within(devId, v, n);
      for (let done = 0; done < n; ) {
        const k = Math.min(perRecord, n - done);
        if (d + done + k > nrData) throw new UsageError(`thin device ${devId} maps data block ${d + done + k - 1}, past the data device's ${nrData} blocks`);
        rec.set(dataHead(v + done, k), 0);
        const end = D_HEAD + k * bs;
        data.readAt(rec.subarray(D_HEAD, end), (d + done) * bs);
        const crc = crc32(rec.subarray(0, end));
        recView.setUint32(end, crc, true);
        put(rec, end + 4);
        sum = chain(sum, crc);
        totals.dataBlocks += k;
        totals.records++;
        done += k;
      }
    };
    let skipped = 0;
    if (!base) {
      forEachRun(md, dev.mappingRoot, devId, (r) => sendData(r.v, r.d, r.n));
    } else {
      const sink: DeltaSink = {
        leftOnly: (v, _d, n) => {
          within(base.devId, v, n);
          const z = zeroRecord(v, n);
          put(z);
          sum = chain(sum, new DataView(z.buffer).getUint32(Z_SIZE - 4, true));
          totals.zeroBlocks += n;
          totals.records++;
        },
        rightOnly: (v, d, n) => sendData(v, d, n),
        differ: (v, _l, r, n) => sendData(v, r, n),
        same: () => {},
        complete: () => {},
      };
      skipped = delta(md, base.devId, devId, sink, deltaRoots(md, base.devId, devId), { skipShared: true });
    }
    put(endRecord(totals, sum));
    return {
      device_id: devId,
      base_device_id: base ? base.devId : null,
      identity: hex(identity),
      base_identity: base ? hex(baseIdentity) : null,
      data_blocks: totals.dataBlocks,
      zero_blocks: totals.zeroBlocks,
      records: totals.records + 1,
      bytes,
      shared_subtrees_skipped: skipped,
      checksum: sum.toString(16).padStart(8, '0'),
    };
  } finally {
    data.close();
  }
}
