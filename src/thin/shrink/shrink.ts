/**
 * Shrinks a pool's data device: every data block at or past the new size
 * moves into a free block below it, the metadata is rewritten to point at
 * the new places and to say the new size, and a data file is cut.
 *
 * Crash safety is in the order, which must be kept:
 *  1. the moving blocks are copied to blocks the committed metadata counts
 *     free (nothing reads them), and the data is synced: killed here, the
 *     pool is as it was;
 *  2. the new metadata goes into metadata blocks the committed metadata
 *     counts free, is synced, and only then is the superblock written (the
 *     commit point) and synced: killed before it, the old metadata is whole
 *     and reads the old blocks, which are still there;
 *  3. only then is a data file cut.
 * Running the same command again re-plans from what is committed: the same
 * plan before step 2's superblock, or (the metadata already saying the new
 * size) only the cut.
 */
import { closeSync, fstatSync, ftruncateSync, openSync } from 'node:fs';
import { type DeletedWords, journalSays, refuseRecoverableDeleted, refuseStrangerData, removeJournal, writeJournal } from './guards.js';
import { ArgumentError, UsageError } from '../../errors.js';
import { nrBitmaps } from '../../format/bitmap.js';
import { NEEDS_CHECK_FLAG } from '../../format/superblock.js';
import { type ByteSource, FileSource } from '../../io/byte-source.js';
import { FileVolume, type WritableVolume } from '../../io/volume.js';
import { errnoWords, sameFile, statInput } from '../../io/files.js';
import { MetadataError } from '../../format/errors.js';
import { check } from '../check/check.js';
import { RunCoalescer, type DumpSink, dump } from '../dump/dump.js';
import { Metadata, type ThinDevice } from '../metadata.js';
import { refuseForeign } from '../pool-source.js';
import { MetadataBuilder } from '../restore/metadata-builder.js';
import { type CopyProgress, copyBlocks } from './copy.js';
import { crashPoint } from './fault.js';
import { refuseIfInUse } from './in-use.js';
import { type ShrinkPlan, type SizeUnit, planShrink } from './plan.js';
import { ShadowTarget, freeMetadataBlocks } from './shadow-target.js';

export interface ShrinkOptions {
  dryRun?: boolean;
  onProgress?: CopyProgress;
  /** Bytes read to measure the copy rate for --dry-run's estimate (default 64 MiB). */
  rateSampleBytes?: number;
  /** The user's word that deleted devices that could still be brought back may be written over. */
  forgetDeleted?: boolean;
  /** The sizes the pool may take beyond whole data blocks (an LVM pool's extents): the smallest that fits is named in them. */
  sizeUnit?: SizeUnit;
  /** How to bring back a deleted device and its name, in the caller's words (default: dmthin export --deleted ID). */
  deletedWords?: Omit<DeletedWords, 'loses'>;
  /** The user's word that the data device is the pool's though it holds more data blocks than the metadata says (grown since the pool last ran). */
  dataMayBeLarger?: boolean;
  /** The user's word that the pool's data really reads as zeros (else such a data file is taken for another). */
  dataMayBeZeros?: boolean;
}

export interface ShrinkResult {
  dryRun: boolean;
  /** Data block size in sectors. */
  dataBlockSize: number;
  oldNrBlocks: number;
  newNrBlocks: number;
  usedBlocks: number;
  /** The smallest size that fits, in data blocks (0 when the metadata already said the new size). */
  minNrBlocks: number;
  /** The smallest size --size may take that fits: minNrBlocks, rounded up to what the pool may take (an LVM pool: whole extents, equal stripes). */
  minSizeBytes?: number;
  movedBlocks: number;
  movedBytes: number;
  /** The last data block a mapping uses, -1 when none (absent when the metadata already said the new size): a size past it moves nothing. */
  lastUsedBlock?: number;
  /** The metadata already said the new size (a re-run after a crash past the commit): nothing moved. */
  alreadyShrunk: boolean;
  /** Metadata blocks the rewritten metadata uses (absent on a dry run or when nothing was rewritten). */
  metadataBlocksUsed?: number;
  /** Metadata blocks free in the committed metadata, and the estimate of what the rewrite needs. */
  metadataFreeBlocks?: number;
  metadataNeededBlocks?: number;
  /** A data file cut to this many bytes (or, dry run, that would be). */
  dataCutTo?: number;
  /** The metadata already said the size but no interrupted shrink of this data file is recorded: the file is left at these bytes. */
  dataLeftLonger?: number;
  /** A data device, which dmthin does not cut: the bytes it may now be cut to. */
  dataMayBeCutTo?: number;
  /** Seconds each step took: the checks and the plan, the copy with its sync, the metadata written and committed, the cut. */
  phaseSeconds?: { prepare: number; copy: number; metadata: number; cut?: number };
  /** Dry run: bytes per second read from the data, and the copy's estimated seconds at that rate (each byte read once and written once). */
  copyRate?: number;
  estimatedSeconds?: number;
}

/** The size asked for, in data blocks; refuses one that is not a whole number of them, naming the nearest below and above. */
export function sizeInBlocks(bytes: number, blockBytes: number): number {
  if (bytes % blockBytes !== 0) {
    const below = Math.floor(bytes / blockBytes) * blockBytes;
    throw new ArgumentError(
      `--size ${bytes} bytes is not a whole number of ${blockBytes}-byte data blocks: the nearest are ${below} (${below / blockBytes} blocks) and ${below + blockBytes} (${below / blockBytes + 1} blocks)`,
    );
  }
  if (bytes === 0) throw new ArgumentError('--size must be at least one data block');
  return bytes / blockBytes;
}

/** Free metadata blocks the rewrite will need at most: trees as MetadataBuilder packs them, both space maps. */
export function metadataBlocksNeeded(plan: ShrinkPlan, metadataNrBlocks: number): number {
  const nodes = (n: number, per: number): number => {
    let level = Math.max(1, Math.ceil(n / per));
    let total = level;
    while (level > 1) {
      level = Math.ceil(level / per);
      total += level;
    }
    return total;
  };
  // The superblock is rewritten in place: only what the builder allocates is counted.
  let n = 0;
  for (const m of plan.mappingsPerDevice) n += nodes(m, 252);
  n += nodes(plan.mappingsPerDevice.length, 126) + nodes(plan.mappingsPerDevice.length, 252);
  const dataBitmaps = nrBitmaps(plan.newNrBlocks);
  n += dataBitmaps + nodes(dataBitmaps, 168) + nodes(plan.sharedBeyondBitmap, 336);
  n += 1 + nrBitmaps(metadataNrBlocks) + 1;
  return n;
}

/** Bytes per second reading up to `sample` bytes of the data from its start. */
function measureReadRate(data: ByteSource, sample: number): number {
  const buf = new Uint8Array(4 << 20);
  const start = process.hrtime.bigint();
  let done = 0;
  while (done < sample) {
    const piece = buf.subarray(0, Math.min(buf.length, sample - done));
    data.readAt(piece, done);
    done += piece.length;
  }
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  return done > 0 && secs > 0 ? done / secs : 0;
}

/** The dump of the committed metadata, its moving blocks renamed, fed to the builder as runs. */
function remapping(builder: MetadataBuilder, plan: ShrinkPlan): DumpSink {
  const { from, to, newNrBlocks } = plan;
  const destination = (b: number): number => {
    let lo = 0;
    let hi = from.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (from[mid] === b) return to[mid];
      if (from[mid] < b) lo = mid + 1;
      else hi = mid - 1;
    }
    throw new UsageError(`internal error: data block ${b} is past the new size but has no destination`);
  };
  const runs = new RunCoalescer(builder);
  return {
    begin: (h) => builder.begin({ ...h, nrDataBlocks: newNrBlocks, metadataSnap: undefined }),
    beginDevice: (d: ThinDevice) => builder.beginDevice(d),
    run: (origin, data, len, time) => {
      if (data + len <= newNrBlocks) {
        runs.flush();
        builder.run(origin, data, len, time);
        return;
      }
      for (let i = 0; i < len; i++) runs.push(origin + i, data + i < newNrBlocks ? data + i : destination(data + i), time);
    },
    endDevice: () => {
      runs.flush();
      builder.endDevice();
    },
    end: () => builder.end(),
  };
}

/** Cuts a data file to `bytes`; a device is left for its owner to cut. */
function cutData(path: string, bytes: number): void {
  let fd: number;
  try {
    fd = openSync(path, 'r+');
  } catch (e) {
    throw new UsageError(
      `the metadata now says the new size, but ${path} could not be opened to cut it: ${errnoWords(e)}; run the same command again to cut it`,
    );
  }
  try {
    if (fstatSync(fd).size > bytes) ftruncateSync(fd, bytes);
  } finally {
    closeSync(fd);
  }
}

/**
 * A pool's two volumes as the shrink needs them: a pool's files or devices
 * (shrink below) or its LVs inside disk images (lvm/shrink-pool.ts).
 */
export interface ShrinkIo {
  /** What the metadata is read from: a path, or an LV as a ByteSource. */
  metadata: string | ByteSource;
  /** The data, read: its size, the sample that tells it is the pool's, the dry run's rate. */
  data: ByteSource;
  /** Opened only when something is to be written. */
  openMetadata(): WritableVolume;
  openData(): WritableVolume;
  /** After the data is copied and synced, before any metadata is written: raw shrink records the cut to come. */
  beforeMetadata?(newNrBlocks: number, blockBytes: number): void;
  /** The data is the pool's by name (an LV of the pool): no sample is taken, nor its size held to the metadata's. */
  dataKnown?: boolean;
  /** The command that diagnoses this pool, in the user's terms (raw: dmthin doctor --metadata --data; LVM: dmthin lvm doctor IMAGES VG/POOL). */
  doctorCommand: string;
}

/**
 * Moves the data blocks at or past `sizeBytes` down and commits metadata
 * saying so and saying the new size (the crash-safe order at the top of
 * this file). Refuses (UsageError, nothing changed) metadata with errors,
 * needs_check, a held metadata snapshot, a size the used blocks do not fit
 * in, larger than the pool or not whole data blocks. Metadata already
 * saying the size is `alreadyShrunk`: nothing moves. Cutting the data is
 * the caller's: it alone knows what the data is.
 */
export function shrinkPool(io: ShrinkIo, sizeBytes: number, options: ShrinkOptions = {}): ShrinkResult {
  const dryRun = options.dryRun === true;
  const started = process.hrtime.bigint();
  const since = (t: bigint): number => Number(process.hrtime.bigint() - t) / 1e9;
  const metadataName = typeof io.metadata === 'string' ? io.metadata : io.metadata.name;
  let md: Metadata;
  try {
    md = Metadata.open(io.metadata);
  } catch (e) {
    if (e instanceof MetadataError) throw new UsageError(`${metadataName}: ${e.message}: is it pool metadata? (${io.doctorCommand} says more)`);
    throw e;
  }
  try {
    const sb = md.superblock;
    if (sb.flags & NEEDS_CHECK_FLAG) {
      throw new UsageError(`${metadataName}: the superblock has needs_check set: the kernel asked for a check; run ${io.doctorCommand} first`);
    }
    if (sb.heldRoot !== 0) {
      throw new UsageError(
        `${metadataName} holds a metadata snapshot (held_root ${sb.heldRoot}), which the rewrite would lose: release it first: with the pool active (lvchange -ay VG/POOL, or dmsetup create), dmsetup message POOL 0 release_metadata_snap (the -tpool device under LVM), then deactivate it; nothing releases it offline, and a backup that took it may still be reading it`,
      );
    }
    const checked = check(io.metadata);
    if (!checked.ok) {
      const first = checked.findings.find((f) => f.severity === 'fatal');
      throw new UsageError(
        `${metadataName} has errors (${first?.message ?? 'a fatal finding'}): shrink rewrites only sound metadata; run ${io.doctorCommand} first`,
      );
    }
    const blockBytes = sb.dataBlockSize * 512;
    const newNrBlocks = sizeInBlocks(sizeBytes, blockBytes);
    const oldNrBlocks = sb.dataSpaceMapRoot.nrBlocks;
    const base = { dryRun, dataBlockSize: sb.dataBlockSize, oldNrBlocks, newNrBlocks };
    if (newNrBlocks > oldNrBlocks) {
      // Metadata saying less than the data holds: most likely a shrink to that size committed and was stopped before its cut.
      const interrupted =
        io.data.size > oldNrBlocks * blockBytes
          ? `; ${io.data.name} is ${io.data.size} bytes, longer: if a shrink to ${oldNrBlocks * blockBytes} bytes was stopped, the same command with --size ${oldNrBlocks * blockBytes} finishes it`
          : '';
      throw new UsageError(
        `--size ${sizeBytes} is larger than the pool (${metadataName} says ${oldNrBlocks} data blocks, ${oldNrBlocks * blockBytes} bytes): shrink only makes a pool smaller${interrupted}`,
      );
    }
    // Already that size: a run killed after its commit, with only the cut left (the caller's).
    if (newNrBlocks === oldNrBlocks)
      return { ...base, usedBlocks: checked.dataBlocksUsed ?? 0, minNrBlocks: 0, movedBlocks: 0, movedBytes: 0, alreadyShrunk: true };
    // The data as the kernel last sized the pool: as many whole blocks as the metadata says. Anything else is another file
    // (a disk image given as --data was moved into, cut, and the pool left pointing at blocks that never moved).
    const dataBlocks = Math.floor(io.data.size / blockBytes);
    if (!io.dataKnown && (dataBlocks < oldNrBlocks || (dataBlocks > oldNrBlocks && !options.dataMayBeLarger))) {
      throw new UsageError(
        `${io.data.name} is ${io.data.size} bytes (${dataBlocks} data blocks), but ${metadataName} says the pool's data is ${oldNrBlocks} blocks (${oldNrBlocks * blockBytes} bytes): ` +
          (dataBlocks < oldNrBlocks
            ? "shorter than the pool the kernel ran, so not its data (another pool's? cut?); give the data file or device the pool runs on"
            : "it is not the data the pool last ran on (a disk image? another pool's data?), and moving blocks in it would damage it; give the pool's data, or, if it is and was grown since the pool last ran, --data-may-be-larger"),
      );
    }
    refuseRecoverableDeleted(md.reader, options.forgetDeleted === true, { ...options.deletedWords, loses: 'a shrink writes over their blocks and trees' });
    const plan = planShrink(md, newNrBlocks, options.sizeUnit);
    if (!io.dataKnown) refuseStrangerData(io.data, plan.sampleMapped, blockBytes, options.dataMayBeZeros === true);
    const moved = plan.from.length;
    const lastSource = moved ? plan.from[moved - 1] : -1;
    if ((lastSource + 1) * blockBytes > io.data.size) {
      throw new UsageError(
        `${io.data.name} is ${io.data.size} bytes, but data block ${lastSource} (bytes ${lastSource * blockBytes}..${(lastSource + 1) * blockBytes - 1}) is mapped and must move: is it the pool's data?`,
      );
    }
    const free = freeMetadataBlocks(md.reader, sb.metadataSpaceMapRoot);
    const needed = metadataBlocksNeeded(plan, sb.metadataNrBlocks);
    if (needed > free.length) {
      throw new UsageError(
        `${metadataName} has ${free.length} free metadata blocks, and the rewritten metadata needs up to ${needed} beside the committed one: grow it first to at least ${(sb.metadataNrBlocks - free.length + needed) * 4096} bytes (\`dmthin metadata resize -i ${metadataName} -o NEW\` with NEW that size or more, or lvextend --poolmetadatasize)`,
      );
    }
    const result: ShrinkResult = {
      ...base,
      usedBlocks: plan.usedBlocks,
      minNrBlocks: plan.minNrBlocks,
      minSizeBytes: (options.sizeUnit ? options.sizeUnit.roundUp(plan.minNrBlocks) : plan.minNrBlocks) * blockBytes,
      movedBlocks: moved,
      movedBytes: moved * blockBytes,
      lastUsedBlock: plan.lastUsed,
      alreadyShrunk: false,
      metadataFreeBlocks: free.length,
      metadataNeededBlocks: needed,
    };
    if (dryRun) {
      const rate = measureReadRate(io.data, Math.min(options.rateSampleBytes ?? 64 << 20, io.data.size));
      return { ...result, copyRate: rate, estimatedSeconds: rate > 0 ? (2 * result.movedBytes) / rate : undefined };
    }

    const prepare = since(started);
    const copyStarted = process.hrtime.bigint();
    const data = io.openData();
    try {
      copyBlocks(data, plan.from, plan.to, blockBytes, options.onProgress);
    } finally {
      data.close();
    }
    crashPoint('after-copy');
    const copy = since(copyStarted);

    const metadataStarted = process.hrtime.bigint();
    io.beforeMetadata?.(newNrBlocks, blockBytes);
    const out = io.openMetadata();
    try {
      const target = new ShadowTarget(out, free);
      const builder = MetadataBuilder.into(
        target,
        sb.metadataNrBlocks,
        metadataName,
        target.allocate,
        `${metadataName} ran out of free metadata blocks for the rewritten metadata (the committed metadata is untouched): grow it first (\`dmthin metadata resize\`, or lvextend --poolmetadatasize)`,
      );
      dump(md, remapping(builder, plan));
      result.metadataBlocksUsed = builder.built?.metadataBlocksUsed;
    } finally {
      out.close();
    }
    result.phaseSeconds = { prepare, copy, metadata: since(metadataStarted) };
    return result;
  } finally {
    md.close();
  }
}

/**
 * Shrinks the pool whose metadata is `metadataPath` and data `dataPath`
 * to `sizeBytes` (shrinkPool), then cuts a data file. Refuses besides, with
 * nothing changed: a pool in use, the same file twice, a data file that
 * reads as zeros where the pool maps blocks (another pool's). A data file
 * is cut only by the run that committed, or a re-run that finds its record
 * (guards.ts): metadata that merely says a smaller size never cuts a file.
 */
export function shrink(metadataPath: string, dataPath: string, sizeBytes: number, options: ShrinkOptions = {}): ShrinkResult {
  const dryRun = options.dryRun === true;
  statInput(metadataPath, 'metadata');
  statInput(dataPath, 'data');
  if (sameFile(metadataPath, dataPath))
    throw new ArgumentError(`--metadata ${metadataPath} and --data ${dataPath} are the same file: give the pool's two devices`);
  refuseForeign(metadataPath, '--metadata');
  refuseIfInUse(metadataPath, 'metadata');
  refuseIfInUse(dataPath, 'data');
  const data = new FileSource(dataPath, 'data');
  const isFile = !data.isBlockDevice;
  const dataBytes = data.size;
  let r: ShrinkResult;
  try {
    r = shrinkPool(
      {
        metadata: metadataPath,
        data,
        openMetadata: () => new FileVolume(metadataPath, 'metadata'),
        openData: () => new FileVolume(dataPath, 'data'),
        beforeMetadata: (n, blockBytes) => writeJournal(metadataPath, dataPath, n, blockBytes),
        doctorCommand: `dmthin doctor --metadata ${metadataPath} --data ${dataPath}`,
      },
      sizeBytes,
      {
        ...options,
        deletedWords: options.deletedWords ?? {
          bringBack: `dmthin export --metadata ${metadataPath} --data ${dataPath} --deleted ID -o FILE for each; docs/recovery.md`,
        },
      },
    );
  } finally {
    data.close();
  }
  const cutTarget = r.newNrBlocks * r.dataBlockSize * 512;
  const afterCut = (): Pick<ShrinkResult, 'dataCutTo' | 'dataMayBeCutTo'> => {
    if (!isFile) {
      if (!dryRun) removeJournal(dataPath);
      return { dataMayBeCutTo: cutTarget };
    }
    if (dataBytes <= cutTarget) {
      if (!dryRun) removeJournal(dataPath);
      return {};
    }
    if (!dryRun) {
      const t = process.hrtime.bigint();
      cutData(dataPath, cutTarget);
      removeJournal(dataPath);
      if (r.phaseSeconds) r.phaseSeconds.cut = Number(process.hrtime.bigint() - t) / 1e9;
    }
    return { dataCutTo: cutTarget };
  };
  // Without the record of an interrupted run, metadata already at the size may be another pool's: its size never cuts this file.
  if (r.alreadyShrunk && isFile && dataBytes > cutTarget && !journalSays(metadataPath, dataPath, r.newNrBlocks, r.dataBlockSize * 512))
    return { ...r, dataLeftLonger: dataBytes };
  return { ...r, ...afterCut() };
}
