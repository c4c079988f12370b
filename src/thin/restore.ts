/**
 * Restores metadata from thin_dump XML.
 *
 * One pass over the XML: each device's mapping tree is written leaf by
 * leaf as its mappings stream in; only per-device summaries and the
 * per-block reference counts (typed arrays) are held. Then the details
 * tree, the top level of the mapping tree and both space maps are written,
 * and the superblock last, after a sync, over a block 0 that was zeroed
 * before anything else was written: an interrupted restore leaves no
 * metadata that looks valid.
 */
import { closeSync, openSync, statSync } from 'node:fs';
import { probeDeviceSize } from '../io/block-reader.js';
import { BlockWriter } from '../io/block-writer.js';
import { BLOCK_SIZE } from '../format/checksum.js';
import { MAX_TIME } from '../format/block-time.js';
import { DEVICE_DETAILS_SIZE, type DeviceDetails, MAX_THIN_ID, writeDeviceDetails } from '../format/device-details.js';
import { UsageError } from '../format/errors.js';
import { MAX_METADATA_BLOCKS } from '../format/index-entry.js';
import { MAX_DATA_BLOCK_SIZE, MIN_DATA_BLOCK_SIZE, SUPERBLOCK_MAGIC, writeSuperblock } from '../format/superblock.js';
import { BTreeBuilder, type NodeSink } from '../pdata/btree-builder.js';
import { RefCounts } from '../pdata/ref-counts.js';
import { grow } from '../pdata/grow.js';
import { writeDataSpaceMap, writeMetadataSpaceMap } from '../pdata/space-map-builder.js';
import { Attr, type XmlElement, Tag, lineAt, readXml, XmlSyntaxError } from './xml-reader.js';

export interface RestoreResult {
  nrDevices: number;
  nrMappings: number;
  metadataNrBlocks: number;
  metadataBlocksUsed: number;
}

interface DeviceRecord extends DeviceDetails {
  devId: number;
  root: number;
}

/** Mappings of a <def>, kept to replay at each <ref>. */
class RunList {
  origin = new Float64Array(16);
  data = new Float64Array(16);
  len = new Float64Array(16);
  time = new Uint32Array(16);
  n = 0;
  push(o: number, d: number, l: number, t: number): void {
    if (this.n === this.origin.length) {
      this.origin = grow(this.origin);
      this.data = grow(this.data);
      this.len = grow(this.len);
      this.time = grow(this.time);
    }
    this.origin[this.n] = o;
    this.data[this.n] = d;
    this.len[this.n] = l;
    this.time[this.n++] = t;
  }
}

/** Values to write instead of the XML's (thin_restore 1.x's overrides). */
export interface RestoreOverrides {
  transactionId?: number;
  dataBlockSize?: number;
  nrDataBlocks?: number;
}

export function restore(xmlPath: string, outputPath: string, overrides: RestoreOverrides = {}): RestoreResult {
  let size: number;
  try {
    const st = statSync(outputPath);
    size = st.isBlockDevice() ? -1 : st.size;
  } catch {
    throw new UsageError(`${outputPath} does not exist: create it with the metadata size first (e.g. truncate -s 16M ${outputPath})`);
  }
  const writer = new BlockWriter(outputPath);
  try {
    if (size < 0) size = blockDeviceSize(outputPath);
    const fileBlocks = Math.floor(size / BLOCK_SIZE);
    if (fileBlocks < 4) throw new UsageError(`${outputPath} is too small (${size} bytes): metadata needs at least 16 KiB`);
    const nrBlocks = Math.min(fileBlocks, MAX_METADATA_BLOCKS);
    // Invalidate whatever superblock was there before writing anything else.
    writer.write(0, new Uint8Array(BLOCK_SIZE));
    writer.sync();
    return restoreInto(xmlPath, writer, nrBlocks, outputPath, overrides);
  } finally {
    writer.close();
  }
}

function restoreInto(xmlPath: string, writer: BlockWriter, nrBlocks: number, outputPath: string, overrides: RestoreOverrides): RestoreResult {
  const metaCounts = new RefCounts(nrBlocks);
  let next = 1;
  const sink: NodeSink = {
    allocate: () => {
      if (next >= nrBlocks) {
        throw new UsageError(`${outputPath} is too small: ${nrBlocks} metadata blocks (${(nrBlocks * BLOCK_SIZE) >> 10} KiB) are not enough for this pool; try a larger file`);
      }
      metaCounts.inc(next);
      return next++;
    },
    write: (b, d) => writer.write(b, d),
  };

  let header: { uuid: string; time: number; transaction: number; flags: number; version: number; dataBlockSize: number; nrDataBlocks: number } | undefined;
  let dataCounts: RefCounts | undefined;
  const devices: DeviceRecord[] = [];
  const seenIds = new Set<number>();
  const defs = new Map<string, RunList>();
  let def: RunList | undefined;
  let device: { rec: Omit<DeviceRecord, 'root'>; tree: BTreeBuilder; xmlMapped: number } | undefined;
  let nrMappings = 0;
  let ended = false;

  const bad = (e: XmlElement, msg: string): never => {
    throw new XmlSyntaxError(xmlPath, lineAt(xmlPath, e.offset), msg);
  };
  const need = (e: XmlElement, a: Attr, name: string): number => {
    const v = e.num[a]!;
    if (Number.isNaN(v)) bad(e, `missing attribute ${name}`);
    return v;
  };

  const addRun = (e: XmlElement, origin: number, data: number, len: number, time: number): void => {
    if (def) {
      def.push(origin, data, len, time);
      return;
    }
    if (!device || !dataCounts || !header) bad(e, 'a mapping outside a <device>');
    const dev = device!;
    if (len === 0) bad(e, 'a range of length 0');
    if (time > MAX_TIME) bad(e, `time ${time} does not fit in 24 bits`);
    if (data + len > header!.nrDataBlocks) {
      bad(e, `thin device ${dev.rec.devId}: data blocks ${data}..${data + len - 1} are past the end of the data device (nr_data_blocks ${header!.nrDataBlocks})`);
    }
    if (origin <= dev.tree.lastAddedKey) {
      bad(e, `thin device ${dev.rec.devId}: virtual block ${origin} is not after ${dev.tree.lastAddedKey}: mappings must be in increasing order`);
    }
    const counts = dataCounts!;
    const tree = dev.tree;
    for (let i = 0; i < len; i++) {
      tree.pushBlockTime(origin + i, data + i, time);
      counts.inc(data + i);
    }
  };

  readXml(xmlPath, (e) => {
    if (ended) bad(e, 'content after </superblock>');
    switch (e.tag) {
      case Tag.Superblock:
        if (e.kind === 'close') {
          if (!header) bad(e, '</superblock> without <superblock>');
          if (device) bad(e, '</superblock> inside a <device>');
          ended = true;
          return;
        }
        if (header) bad(e, 'a second <superblock>');
        header = {
          uuid: e.str.get(Attr.Uuid) ?? '',
          time: need(e, Attr.Time, 'time'),
          transaction: need(e, Attr.Transaction, 'transaction'),
          flags: Number.isNaN(e.num[Attr.Flags]!) ? 0 : e.num[Attr.Flags]!,
          version: Number.isNaN(e.num[Attr.Version]!) ? 2 : e.num[Attr.Version]!,
          dataBlockSize: overrides.dataBlockSize ?? need(e, Attr.DataBlockSize, 'data_block_size'),
          nrDataBlocks: overrides.nrDataBlocks ?? need(e, Attr.NrDataBlocks, 'nr_data_blocks'),
        };
        if (overrides.transactionId !== undefined) header.transaction = overrides.transactionId;
        {
          const dbs = header.dataBlockSize;
          if (dbs < MIN_DATA_BLOCK_SIZE || dbs > MAX_DATA_BLOCK_SIZE || dbs % MIN_DATA_BLOCK_SIZE !== 0) {
            bad(e, `data_block_size ${dbs} is not a multiple of 128 sectors between 128 and 2097152`);
          }
          if (header.version < 1 || header.version > 2) bad(e, `version ${header.version} is not 1 or 2`);
          if (header.nrDataBlocks > 2 ** 40) bad(e, `nr_data_blocks ${header.nrDataBlocks} does not fit in 40 bits`);
          if (Buffer.byteLength(header.uuid) > 16) bad(e, `uuid "${header.uuid}" is longer than 16 bytes`);
        }
        dataCounts = new RefCounts(header.nrDataBlocks);
        return;
      case Tag.Def:
        if (e.kind === 'close') {
          def = undefined;
          return;
        }
        if (!header || device || def) bad(e, '<def> must be inside <superblock> and outside <device>');
        {
          const name = e.str.get(Attr.Name);
          if (name === undefined) bad(e, 'missing attribute name');
          if (defs.has(name!)) bad(e, `a second <def name="${name}">`);
          def = new RunList();
          defs.set(name!, def);
          if (e.kind === 'empty') def = undefined;
        }
        return;
      case Tag.Ref: {
        const name = e.str.get(Attr.Name);
        const d = name === undefined ? undefined : defs.get(name);
        if (!d) bad(e, `<ref name="${name ?? ''}"> names no earlier <def>`);
        for (let i = 0; i < d!.n; i++) addRun(e, d!.origin[i]!, d!.data[i]!, d!.len[i]!, d!.time[i]!);
        return;
      }
      case Tag.Device:
        if (e.kind === 'close') {
          if (!device) bad(e, '</device> without <device>');
          const dev = device!;
          if (dev.tree.size !== dev.xmlMapped) {
            process.emitWarning(`thin device ${dev.rec.devId}: mapped_blocks="${dev.xmlMapped}" but ${dev.tree.size} mappings follow; writing ${dev.tree.size}`);
          }
          nrMappings += dev.tree.size;
          devices.push({ ...dev.rec, mappedBlocks: dev.tree.size, root: dev.tree.finish() });
          device = undefined;
          return;
        }
        if (!header || device || def) bad(e, '<device> must be directly inside <superblock>');
        {
          const devId = need(e, Attr.DevId, 'dev_id');
          if (devId > MAX_THIN_ID) bad(e, `dev_id ${devId} does not fit in 24 bits`);
          if (seenIds.has(devId)) bad(e, `thin device ${devId} appears twice`);
          seenIds.add(devId);
          device = {
            rec: {
              devId,
              mappedBlocks: 0,
              transactionId: need(e, Attr.Transaction, 'transaction'),
              creationTime: need(e, Attr.CreationTime, 'creation_time'),
              snapshottedTime: need(e, Attr.SnapTime, 'snap_time'),
            },
            tree: new BTreeBuilder(sink, 8),
            xmlMapped: need(e, Attr.MappedBlocks, 'mapped_blocks'),
          };
          if (e.kind === 'empty') {
            devices.push({ ...device.rec, root: device.tree.finish() });
            device = undefined;
          }
        }
        return;
      case Tag.RangeMapping:
        addRun(e, need(e, Attr.OriginBegin, 'origin_begin'), need(e, Attr.DataBegin, 'data_begin'), need(e, Attr.Length, 'length'), need(e, Attr.Time, 'time'));
        return;
      case Tag.SingleMapping:
        addRun(e, need(e, Attr.OriginBlock, 'origin_block'), need(e, Attr.DataBlock, 'data_block'), 1, need(e, Attr.Time, 'time'));
        return;
    }
  });
  if (!header || !dataCounts) throw new UsageError(`${xmlPath}: no <superblock> element: is this thin_dump XML?`);
  if (!ended) throw new UsageError(`${xmlPath}: the XML ends before </superblock>: truncated?`);

  devices.sort((a, b) => a.devId - b.devId);
  const details = new BTreeBuilder(sink, DEVICE_DETAILS_SIZE);
  const top = new BTreeBuilder(sink, 8);
  for (const d of devices) {
    const [b, off] = details.push(d.devId);
    writeDeviceDetails(d, b, off);
    top.pushU64(d.devId, d.root);
  }
  const detailsRoot = details.finish();
  const mappingRoot = top.finish();
  const dataSm = writeDataSpaceMap(sink, dataCounts);
  metaCounts.inc(0); // the superblock, written last
  const metaSm = writeMetadataSpaceMap(sink, metaCounts, nrBlocks);
  writer.sync();

  const uuid = new Uint8Array(16);
  uuid.set(Buffer.from(header.uuid).subarray(0, 16));
  writer.write(
    0,
    writeSuperblock({
      csum: 0,
      flags: header.flags,
      blocknr: 0,
      uuid,
      magic: SUPERBLOCK_MAGIC,
      version: header.version,
      time: header.time,
      transactionId: header.transaction,
      heldRoot: 0,
      dataSpaceMapRoot: dataSm,
      metadataSpaceMapRoot: metaSm,
      mappingRoot,
      detailsRoot,
      dataBlockSize: header.dataBlockSize,
      metadataBlockSize: 8,
      metadataNrBlocks: nrBlocks,
      compatFlags: 0,
      compatRoFlags: 0,
      incompatFlags: 0,
    }),
  );
  writer.sync();
  return { nrDevices: devices.length, nrMappings, metadataNrBlocks: nrBlocks, metadataBlocksUsed: next };
}

function blockDeviceSize(path: string): number {
  const fd = openSync(path, 'r');
  try {
    return probeDeviceSize(fd);
  } finally {
    closeSync(fd);
  }
}
