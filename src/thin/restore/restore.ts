/**
 * Restores metadata from thin_dump XML: the XML is parsed in one pass and
 * fed to a MetadataBuilder, which writes the trees as the mappings stream
 * in, and the superblock last (see metadata-builder.ts). Errors in the XML
 * name its line.
 */
import { UsageError, must } from '../../errors.js';
import { grow } from '../../pdata/grow.js';
import type { DumpHeader } from '../dump/dump.js';
import { BuildInputError, type BuildResult, MetadataBuilder } from './metadata-builder.js';
import { Attr, type XmlElement, Tag, lineAt, readXml, XmlSyntaxError } from './xml-reader.js';

/** What was written, and what in the XML was off but could be written anyway. */
export type RestoreResult = BuildResult & { warnings: string[] };

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
  transactionId?: bigint;
  dataBlockSize?: number;
  nrDataBlocks?: number;
}

export function restore(xmlPath: string, outputPath: string, overrides: RestoreOverrides = {}): RestoreResult {
  const builder = MetadataBuilder.create(outputPath, [xmlPath]);
  try {
    return restoreInto(xmlPath, builder, overrides);
  } finally {
    builder.close();
  }
}

function restoreInto(xmlPath: string, builder: MetadataBuilder, overrides: RestoreOverrides): RestoreResult {
  let header: DumpHeader | undefined;
  const defs = new Map<string, RunList>();
  let def: RunList | undefined;
  let device: { devId: number; xmlMapped: number } | undefined;
  let ended = false;
  const warnings: string[] = [];

  // Typed as a whole (not only its return): a call to it then narrows what follows.
  const bad: (e: XmlElement, msg: string) => never = (e, msg) => {
    throw new XmlSyntaxError(xmlPath, lineAt(xmlPath, e.offset), msg);
  };
  const need = (e: XmlElement, a: Attr, name: string): number => {
    const v = e.num[a];
    if (Number.isNaN(v)) bad(e, `missing attribute ${name}`);
    return v;
  };
  const needU64 = (e: XmlElement, a: Attr, name: string): bigint => {
    const v = e.str.get(a);
    if (v === undefined) bad(e, `missing attribute ${name}`);
    return BigInt(v);
  };

  /** Feeds the builder; what it refuses in the input is reported at the element's line. */
  const feed = (e: XmlElement, f: () => void): void => {
    try {
      f();
    } catch (err) {
      if (err instanceof BuildInputError) bad(e, err.message);
      throw err;
    }
  };

  const addRun = (e: XmlElement, origin: number, data: number, len: number, time: number): void => {
    if (def) {
      def.push(origin, data, len, time);
      return;
    }
    if (!device || !header) bad(e, 'a mapping outside a <device>');
    feed(e, () => builder.run(origin, data, len, time));
  };

  readXml(xmlPath, (e) => {
    if (ended) bad(e, 'content after </superblock>');
    switch (e.tag) {
      case Tag.Superblock: {
        if (e.kind === 'close') {
          if (!header) bad(e, '</superblock> without <superblock>');
          if (device) bad(e, '</superblock> inside a <device>');
          ended = true;
          return;
        }
        if (header) bad(e, 'a second <superblock>');
        const h: DumpHeader = {
          uuid: e.str.get(Attr.Uuid) ?? '',
          time: need(e, Attr.Time, 'time'),
          transaction: needU64(e, Attr.Transaction, 'transaction'),
          flags: Number.isNaN(e.num[Attr.Flags]) ? 0 : e.num[Attr.Flags],
          version: Number.isNaN(e.num[Attr.Version]) ? 2 : e.num[Attr.Version],
          dataBlockSize: overrides.dataBlockSize ?? need(e, Attr.DataBlockSize, 'data_block_size'),
          nrDataBlocks: overrides.nrDataBlocks ?? need(e, Attr.NrDataBlocks, 'nr_data_blocks'),
        };
        if (overrides.transactionId !== undefined) h.transaction = overrides.transactionId;
        header = h;
        feed(e, () => builder.begin(h));
        return;
      }
      case Tag.Def:
        if (e.kind === 'close') {
          def = undefined;
          return;
        }
        if (!header || device || def) bad(e, '<def> must be inside <superblock> and outside <device>');
        {
          const name = e.str.get(Attr.Name);
          if (name === undefined) bad(e, 'missing attribute name');
          if (defs.has(name)) bad(e, `a second <def name="${name}">`);
          def = new RunList();
          defs.set(name, def);
          if (e.kind === 'empty') def = undefined;
        }
        return;
      case Tag.Ref: {
        const name = e.str.get(Attr.Name);
        const d = name === undefined ? undefined : defs.get(name);
        if (!d) bad(e, `<ref name="${name ?? ''}"> names no earlier <def>`);
        for (let i = 0; i < d.n; i++) addRun(e, d.origin[i], d.data[i], d.len[i], d.time[i]);
        return;
      }
      case Tag.Device:
        if (e.kind === 'close') {
          if (!device) bad(e, '</device> without <device>');
          const dev = device;
          if (builder.deviceSize !== dev.xmlMapped) {
            warnings.push(`thin device ${dev.devId}: mapped_blocks="${dev.xmlMapped}" but ${builder.deviceSize} mappings follow; wrote ${builder.deviceSize}`);
          }
          builder.endDevice();
          device = undefined;
          return;
        }
        if (!header || device || def) bad(e, '<device> must be directly inside <superblock>');
        {
          const devId = need(e, Attr.DevId, 'dev_id');
          const details = {
            devId,
            mappedBlocks: 0,
            transactionId: needU64(e, Attr.Transaction, 'transaction'),
            creationTime: need(e, Attr.CreationTime, 'creation_time'),
            snapshottedTime: need(e, Attr.SnapTime, 'snap_time'),
          };
          feed(e, () => builder.beginDevice(details));
          device = { devId, xmlMapped: need(e, Attr.MappedBlocks, 'mapped_blocks') };
          if (e.kind === 'empty') {
            builder.endDevice();
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
  if (!header) throw new UsageError(`${xmlPath}: no <superblock> element: is this thin_dump XML?`);
  if (!ended) throw new UsageError(`${xmlPath}: the XML ends before </superblock>: truncated?`);
  builder.end();
  return { ...must(builder.built, 'what end() built'), warnings };
}
