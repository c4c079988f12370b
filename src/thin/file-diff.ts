/**
 * What changed between two thin devices, in files: the block-level delta
 * (the virtual ranges mapped differently, or on one side only) handed to
 * the filesystem's own diff (src/fs/diff.ts), which reads through each
 * device's mappings only the blocks those ranges and their owners name.
 * Both devices must be whole: a damaged tree stops here with the doctor's
 * name, before anything is printed.
 */
import { UsageError } from '../errors.js';
import { type FsDiff, diffFilesystems } from '../fs/diff.js';
import { FsError } from '../fs/errors.js';
import { validateTrees } from './damage.js';
import { DeltaStream, deltaRoots } from './delta/delta.js';
import { highestKey } from '../pdata/btree/traversal.js';
import { openPoolData } from './pool-data.js';
import { ThinDeviceSource } from './device-source.js';
import { rawDeviceBytes } from './lost-holds.js';
import { type PoolSource, metadataName, openMetadata } from './pool-source.js';

export interface DiffSide {
  devId: number;
  /** For messages: "thin 2", "vg/lv", "container web". */
  name: string;
  /** Bytes, where LVM or Docker records it; else the filesystem's own size (at least what is mapped). */
  size?: number;
}

export interface FileDiff extends FsDiff {
  /** Bytes the two devices map differently (the block-level delta). */
  changedBytes: number;
  /** Bytes read from the pool's data device for the file-level answer. */
  dataBytesRead: number;
}

export interface FileDiffOptions {
  /**
   * List only what lies under this directory, as paths from it: Docker's
   * devicemapper driver keeps a container's root in /rootfs of its device
   * (beside its own /id file), and docker diff lists paths from there.
   */
  under?: string;
}

export function fileDiff(source: PoolSource, before: DiffSide, after: DiffSide, options: FileDiffOptions = {}): FileDiff {
  if (source.data === undefined) {
    throw new UsageError(`${source.name}: the pool's data device is needed to read files (--data DATA)${source.dataProblem ? `: ${source.dataProblem}` : ''}`);
  }
  const md = openMetadata(source);
  try {
    const roots = deltaRoots(md, before.devId, after.devId);
    validateTrees(md, [before.devId, after.devId]);
    const bs = md.dataBlockBytes();
    const ranges: { offset: number; length: number }[] = [];
    const d = new DeltaStream(md, before.devId, after.devId, roots, { skipShared: true });
    while (d.next()) {
      if (d.kind === 'same') continue;
      const offset = d.v * bs;
      const last = ranges[ranges.length - 1];
      if (last && last.offset + last.length === offset) last.length += d.n * bs;
      else ranges.push({ offset, length: d.n * bs });
    }
    const data = openPoolData(source.data, md.superblock.dataSpaceMapRoot.nrBlocks, bs);
    try {
      // A raw pool does not record a device's size (its dm table line does): the filesystem's own, or at least what is mapped.
      const side = (s: DiffSide, root: number): ThinDeviceSource => {
        const open = (size: number) => new ThinDeviceSource(s.name, md.reader, root, data, bs, size);
        return open(s.size ?? rawDeviceBytes(open, (highestKey(md.reader, root, 8, { kind: 'mappings', devId: s.devId }) + 1) * bs));
      };
      const a = side(before, roots[0]);
      const b = side(after, roots[1]);
      let r: FsDiff;
      try {
        r = diffFilesystems(a, b, ranges);
      } catch (e) {
        // No filesystem the diff reads: the block ranges are still an answer.
        if (e instanceof FsError && e.structure === 'filesystem')
          throw new UsageError(`${e.message}; the ${ranges.length} block range(s) that differ: ${deltaCommand(source, before.devId, after.devId)}`);
        throw e;
      }
      const under = options.under?.replace(/\/+$/, '');
      const changes = under ? r.changes.filter((c) => c.path.startsWith(`${under}/`)).map((c) => ({ ...c, path: c.path.slice(under.length) })) : r.changes;
      return { ...r, changes, changedBytes: ranges.reduce((n, x) => n + x.length, 0), dataBytesRead: a.dataBytesRead + b.dataBytesRead };
    } finally {
      if (data !== source.data) data.close();
    }
  } finally {
    md.close();
  }
}

/** The delta verb for the same pool and devices, as the user would type it. */
function deltaCommand(source: PoolSource, a: number, b: number): string {
  const snaps = `--snap1 ${a} --snap2 ${b}`;
  if (source.kind === 'lvm' && source.doctorCommand?.startsWith('dmthin lvm doctor '))
    return `${source.doctorCommand.replace('dmthin lvm doctor ', 'dmthin lvm delta ')} ${snaps}`;
  return `dmthin delta ${snaps} ${metadataName(source)}`;
}
