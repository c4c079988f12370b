/**
 * `dmthin send`, offline: a thin device's blocks as a stream (format.ts),
 * all of them (full) or only what changed since a base snapshot
 * (incremental: the delta of the two mapping trees, the subtrees both
 * share skipped unread; blocks both map to the same data block are not read). Data is read from the pool's data file or
 * device in runs, and written record by record: memory does not grow with
 * the device.
 */
import { fstatSync } from 'node:fs';
import { ArgumentError, UsageError, must } from '../errors.js';
import { validateTrees } from '../thin/damage.js';
import type { ByteSource } from '../io/byte-source.js';
import { openPoolData } from '../thin/pool-data.js';
import { writeFullAsync } from '../io/full-io.js';
import { DeltaStream } from '../thin/delta/delta.js';
import { RunStream } from '../thin/runs.js';
import { highestKey } from '../pdata/btree/traversal.js';
import { type Metadata, type ThinDevice, noSuchDevice } from '../thin/metadata.js';
import {
  CRC_SIZE,
  D_HEAD,
  HEADER_SIZE,
  MAX_RECORD_BYTES,
  NO_BASE,
  chain,
  dataHead,
  endRecord,
  sealData,
  storedCrc,
  writeHeader,
  zeroRecord,
} from './format.js';
import { hex, poolIdentity, snapshotIdentity } from './identity.js';

export interface SendOptions {
  /** The base snapshot (an earlier snapshot of the same origin family). */
  base?: number;
  /** The device's size in bytes; default: up to the highest block either device maps. */
  size?: number;
}

export interface SendResult {
  deviceId: number;
  baseDeviceId: number | null;
  identity: string;
  baseIdentity: string | null;
  dataBlocks: number;
  zeroBlocks: number;
  records: number;
  bytes: number;
  /** Subtrees the two devices share, passed over unread (counted on each side). */
  sharedSubtreesSkipped: number;
  /** The stream checksum the end record holds. */
  checksum: string;
}

export async function send(md: Metadata, dataInput: string | ByteSource, devId: number, outFd: number, options: SendOptions = {}): Promise<SendResult> {
  const devices = md.devices();
  const dev = devices.find((d) => d.devId === devId);
  if (!dev || dev.mappingRoot === undefined) throw noSuchDevice(devId, devices);
  const base = options.base === undefined ? undefined : devices.find((d) => d.devId === options.base);
  if (options.base !== undefined && (!base || base.mappingRoot === undefined)) throw noSuchDevice(options.base, devices, 'the base: ');
  if (options.base === devId)
    throw new ArgumentError(
      `the base and the device sent are the same device (${devId}): a full stream needs no --base; an incremental one takes as --base an earlier snapshot of it that the receiver holds`,
    );
  // A stream cannot be taken back: both trees are judged before the first byte (a file is renamed only when whole).
  if (!fstatSync(outFd).isFile()) validateTrees(md, options.base === undefined ? [devId] : [devId, options.base]);
  const bs = md.dataBlockBytes();
  const nrData = md.superblock.dataSpaceMapRoot.nrBlocks;
  // Without --size, the device ends at the highest block either maps: the rightmost path of each tree is read to find it.
  const top = (root: number, id: number): number => highestKey(md.reader, root, 8, { kind: 'mappings', devId: id });
  const size = options.size ?? (Math.max(top(dev.mappingRoot, devId), base?.mappingRoot !== undefined ? top(base.mappingRoot, base.devId) : -1) + 1) * bs;
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
    const perRecord = Math.max(1, Math.floor(MAX_RECORD_BYTES / bs));
    const records = new Records(md, dev.mappingRoot, devId, base, perRecord, (id, v, n) => {
      within(id, v, n);
      if (records.kind === 'data' && records.d + n > nrData) {
        throw new UsageError(`thin device ${devId} maps data block ${records.d + n - 1}, past the data device's ${nrData} blocks`);
      }
    });
    const out = await writeRecords(records, data, bs, perRecord, outFd, header);
    return {
      deviceId: devId,
      baseDeviceId: base ? base.devId : null,
      identity: hex(identity),
      baseIdentity: base ? hex(baseIdentity) : null,
      dataBlocks: out.dataBlocks,
      zeroBlocks: out.zeroBlocks,
      records: out.records + 1,
      bytes: out.bytes,
      sharedSubtreesSkipped: records.skipped,
      checksum: out.sum.toString(16).padStart(8, '0'),
    };
  } finally {
    data.close();
  }
}

/**
 * The records to send, pulled one at a time: a full device's runs, or the
 * delta's changed and discarded ranges, cut into pieces of at most
 * `perRecord` blocks. `check` sees each piece before it is given.
 */
class Records {
  kind: 'data' | 'zero' = 'data';
  v = 0;
  d = 0;
  n = 0;
  private readonly full: RunStream | undefined;
  private readonly delta: DeltaStream | undefined;
  /** What is left of the current range. */
  private left = 0;
  private leftKind: 'data' | 'zero' = 'data';
  private leftV = 0;
  private leftD = 0;
  private leftId = 0;

  constructor(
    md: Metadata,
    root: number,
    private readonly devId: number,
    base: ThinDevice | undefined,
    private readonly perRecord: number,
    private readonly check: (id: number, v: number, n: number) => void,
  ) {
    if (base) this.delta = new DeltaStream(md, base.devId, devId, [must(base.mappingRoot, "the base's mapping root"), root], { skipShared: true });
    else this.full = new RunStream(md, root, devId);
  }

  get skipped(): number {
    return this.delta?.skipped ?? 0;
  }

  next(): boolean {
    while (this.left === 0) if (!this.range()) return false;
    const n = this.leftKind === 'zero' ? this.left : Math.min(this.perRecord, this.left);
    this.kind = this.leftKind;
    this.v = this.leftV;
    this.d = this.leftD;
    this.n = n;
    this.check(this.leftId, this.v, n);
    this.left -= n;
    this.leftV += n;
    this.leftD += n;
    return true;
  }

  /** Loads the next range; false at the end. */
  private range(): boolean {
    if (this.full) {
      const r = this.full;
      if (r.done) return false;
      this.load('data', r.vbegin, r.dbegin, r.len, this.devId);
      r.consume(r.len);
      return true;
    }
    const s = must(this.delta, 'the delta of an incremental send');
    for (;;) {
      if (!s.next()) return false;
      if (s.kind === 'same') continue;
      if (s.kind === 'leftOnly') this.load('zero', s.v, 0, s.n, -1);
      else this.load('data', s.v, s.r, s.n, this.devId);
      return true;
    }
  }

  private load(kind: 'data' | 'zero', v: number, d: number, n: number, id: number): void {
    this.leftKind = kind;
    this.leftV = v;
    this.leftD = d;
    this.left = n;
    this.leftId = id;
  }
}

interface Written {
  dataBlocks: number;
  zeroBlocks: number;
  records: number;
  bytes: number;
  sum: number;
}

/** Data records read ahead: reads on libuv's threads overlap the checksum of the record before and the write of the one before that. */
const READ_AHEAD = 3;

/**
 * Writes the header, every record and the end record to `outFd` in order.
 * Each D record's data is read straight into the buffer that is written,
 * several reads in flight, one write in flight: the kernel's copies run on
 * other cores while this one computes CRCs.
 */
async function writeRecords(records: Records, data: ByteSource, bs: number, perRecord: number, outFd: number, header: Uint8Array): Promise<Written> {
  const w: Written = { dataBlocks: 0, zeroBlocks: 0, records: 0, bytes: 0, sum: 0 };
  const free: Uint8Array[] = Array.from({ length: READ_AHEAD + 2 }, () => new Uint8Array(D_HEAD + perRecord * bs + CRC_SIZE));
  interface Job {
    kind: 'data' | 'zero';
    v: number;
    n: number;
    buf?: Uint8Array;
    read?: Promise<void>;
    error?: unknown;
  }
  const queue: Job[] = [];
  let writing: Promise<void> = Promise.resolve();
  let writingBuf: Uint8Array | undefined;
  let writeError: unknown;
  const put = async (b: Uint8Array, n: number, buf?: Uint8Array): Promise<void> => {
    await writing;
    if (writeError) throw writeError;
    if (writingBuf) free.push(writingBuf);
    writingBuf = buf;
    w.bytes += n;
    writing = writeFullAsync(outFd, b, n, null).catch((e) => {
      writeError = e;
    });
  };
  try {
    await put(header, HEADER_SIZE);
    w.sum = chain(w.sum, storedCrc(header));
    for (;;) {
      while (queue.length < READ_AHEAD && free.length > 0 && records.next()) {
        const job: Job = { kind: records.kind, v: records.v, n: records.n };
        if (job.kind === 'data') {
          const buf = must(free.pop(), 'a free record buffer');
          job.buf = buf;
          // Kept from rejecting unobserved: the error is looked at when the job's turn comes.
          job.read = data.readAtAsync(buf.subarray(D_HEAD, D_HEAD + job.n * bs), records.d * bs).catch((e) => {
            job.error = e;
          });
        }
        queue.push(job);
      }
      const job = queue.shift();
      if (!job) break;
      if (job.kind === 'zero') {
        const z = zeroRecord(job.v, job.n);
        w.sum = chain(w.sum, storedCrc(z));
        w.zeroBlocks += job.n;
        await put(z, z.length);
      } else {
        await job.read;
        if (job.error) throw job.error;
        const rec = must(job.buf, "a data record's buffer");
        rec.set(dataHead(job.v, job.n), 0);
        const crc = sealData(rec, job.n * bs);
        w.sum = chain(w.sum, crc);
        w.dataBlocks += job.n;
        await put(rec, D_HEAD + job.n * bs + CRC_SIZE, rec);
      }
      w.records++;
    }
    const e = endRecord({ dataBlocks: w.dataBlocks, zeroBlocks: w.zeroBlocks, records: w.records }, w.sum);
    await put(e, e.length);
    await writing;
    if (writeError) throw writeError;
    return w;
  } finally {
    // Nothing left running against the descriptors the caller closes.
    await Promise.all(queue.map((j) => j.read));
    await writing;
  }
}
