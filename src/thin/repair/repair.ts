/**
 * thin_repair and thin_dump --repair: what salvage.ts decided, streamed to
 * a dump sink (XML, human, JSON) or rebuilt into fresh metadata through
 * the same MetadataBuilder restore uses. The input is opened read-only and
 * never written; the output gets a zeroed superblock first and the real
 * one last.
 */
import type { ByteSource } from '../../io/byte-source.js';
import { BLOCK_SIZE } from '../../format/checksum.js';
import { BlockReader } from '../../io/block-reader.js';
import { UsageError, must } from '../../errors.js';
import { type DumpSink, RunCoalescer } from '../dump/dump.js';
import { type BuildResult, MetadataBuilder } from '../restore/metadata-builder.js';
import { type Salvage, type SalvageOptions, salvage } from './salvage.js';
import { type DeviceLosses, repairLosses } from './losses.js';

export interface EmitOptions {
  devIds?: readonly number[];
  skipMappings?: boolean;
}

/** Streams a salvage: each device's surviving mappings with recovered ones in its holes, in key order. */
export function emitSalvage(s: Salvage, sink: DumpSink, options: EmitOptions = {}): void {
  const walker = s.walker;
  let devices = s.devices;
  if (options.devIds) {
    const known = new Set(devices.map((d) => d.devId));
    for (const id of options.devIds) if (!known.has(id)) throw new UsageError(`no thin device ${id} in the repaired metadata`);
    const wanted = new Set(options.devIds);
    devices = devices.filter((d) => wanted.has(d.devId));
  }
  sink.begin(s.header);
  for (const d of devices) {
    sink.beginDevice({ devId: d.devId, mappingRoot: d.root, ...d.details });
    if (!options.skipMappings) {
      const runs = new RunCoalescer(sink);
      const rec = d.recovered;
      let next = 0;
      const fill = (lo: number, hi: number): void => {
        while (next < rec.length && rec.keys[next] < lo) next++;
        for (; next < rec.length && rec.keys[next] < hi; next++) runs.push(rec.keys[next], rec.data[next], rec.time[next]);
      };
      if (d.root === undefined) fill(0, Infinity);
      else {
        walker.walk(d.root, {
          valueSize: 8,
          tree: { kind: 'mappings', devId: d.devId },
          onLeaf: (node) => runs.pushLeaf(node),
          onProblem: (p) => fill(p.range.lo, p.range.hi),
        });
      }
      runs.flush();
    }
    sink.endDevice();
  }
  sink.end();
}

/**
 * Salvages the metadata at `path` and hands the result to `use` while the
 * file is still open (emitting reads the surviving nodes again): dump
 * --repair prints the notes, then emits into its output.
 */
export function withSalvage<T>(input: string | ByteSource, options: SalvageOptions, use: (s: Salvage) => T): T {
  const reader = new BlockReader(input);
  try {
    if (reader.nrBlocks === 0) throw new UsageError(`${reader.path} is empty: nothing to repair`);
    return use(salvage(reader, options));
  } finally {
    reader.close();
  }
}

export interface RepairOptions extends SalvageOptions {
  /** Files no output may be (default: the input, when it is a path). */
  inputs?: readonly string[];
  /** The pool's data: with it, the result says what each lost range held (losses[].lostHolds). */
  data?: string | ByteSource;
}

export interface RepairResult {
  salvage: Salvage;
  built: BuildResult;
  /** The devices that lost bytes after the repair (with options.data: what those bytes held). */
  losses: DeviceLosses[];
}

/** Repairs `input` (a path, or any ByteSource: an LV inside disk images) into `output`. */
export function repair(input: string | ByteSource, output: string, options: RepairOptions = {}): RepairResult {
  const reader = new BlockReader(input);
  try {
    if (reader.nrBlocks === 0) throw new UsageError(`${reader.path} is empty: nothing to repair`);
    // The output is checked before the long scan, and written only once everything is rebuilt.
    const builder = MetadataBuilder.create(output, options.inputs ?? (typeof input === 'string' ? [input] : []), reader.nrBlocks * BLOCK_SIZE);
    try {
      const s = salvage(reader, options);
      emitSalvage(s, builder);
      return { salvage: s, built: must(builder.built, 'what end() built'), losses: repairLosses(reader, s, options.data) };
    } finally {
      builder.close();
    }
  } finally {
    reader.close();
  }
}
