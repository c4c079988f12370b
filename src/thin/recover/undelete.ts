/**
 * New metadata with a deleted device re-added: the pool's metadata as it
 * is (every live device and mapping, read from the live trees), plus the
 * deleted device's intact and shared mappings, under its own id or
 * another. The builder counts every data block from the mappings it is
 * given, so the re-added blocks get their references (a shared block two)
 * and the output passes thin_check. The input is only read; the output is
 * written whole or not at all (MetadataBuilder).
 */
import { UsageError, must } from '../../errors.js';
import { MAX_THIN_ID } from '../../format/device-details.js';
import { type DumpHeader, type DumpSink, RunCoalescer, dump } from '../dump/dump.js';
import type { Metadata, ThinDevice } from '../metadata.js';
import { type BuildResult, MetadataBuilder } from '../restore/metadata-builder.js';
import { type DeletedScan, vouchedFor } from './scan-deleted.js';

export interface UndeleteOptions {
  /** The id to give it (default: its own). */
  as?: number;
  /** Files no output may be. */
  inputs?: readonly string[];
}

export interface UndeleteResult {
  deviceId: number;
  as: number;
  /** Mappings re-added (intact and shared). */
  mappings: number;
  /** Mappings of the deleted device left out (reallocated or unknown). */
  leftOut: number;
  /** Whether its details came from a surviving details leaf (else: the pool's current time and transaction). */
  detailsFound: boolean;
  built: BuildResult;
}

export function undelete(md: Metadata, scan: DeletedScan, devId: number, output: string, options: UndeleteOptions = {}): UndeleteResult {
  const dev = scan.devices.find((d) => d.devId === devId);
  if (!dev) throw new UsageError(`no deleted thin device ${devId} survives in the metadata`);
  const as = options.as ?? devId;
  if (!(as >= 0 && as <= MAX_THIN_ID)) throw new UsageError(`--as ${as} is not a thin id (0..${MAX_THIN_ID})`);
  const live = md.devices();
  if (live.some((d) => d.devId === as)) throw new UsageError(`thin device ${as} exists in the pool: give --as a free id`);
  const keep = (i: number): boolean => vouchedFor(dev.verdict[i]);
  let mappings = 0;
  for (let i = 0; i < dev.verdict.length; i++) if (keep(i)) mappings++;
  if (mappings === 0) throw new UsageError(`deleted thin device ${devId} has no block the evidence vouches for: nothing to re-add`);

  const builder = MetadataBuilder.create(output, options.inputs ?? []);
  try {
    let header: DumpHeader | undefined;
    const sink: DumpSink = {
      begin: (h) => {
        header = h;
        builder.begin(h);
      },
      beginDevice: (d: ThinDevice) => builder.beginDevice(d),
      run: (o, d, n, t) => builder.run(o, d, n, t),
      endDevice: () => builder.endDevice(),
      end: () => {
        const h = must(header, 'the dump header (begin comes before end)');
        builder.beginDevice({
          devId: as,
          mappedBlocks: mappings,
          transactionId: dev.details?.transactionId ?? h.transaction,
          creationTime: dev.details?.creationTime ?? h.time,
          snapshottedTime: dev.details?.snapshottedTime ?? h.time,
        });
        const runs = new RunCoalescer(builder);
        for (let i = 0; i < dev.vblock.length; i++) if (keep(i)) runs.push(dev.vblock[i], dev.data[i], dev.time[i]);
        runs.flush();
        builder.endDevice();
        builder.end();
      },
    };
    dump(md, sink);
    return {
      deviceId: devId,
      as,
      mappings,
      leftOut: dev.counts.mapped - mappings,
      detailsFound: !!dev.details,
      built: must(builder.built, 'what end() built'),
    };
  } finally {
    builder.close();
  }
}
