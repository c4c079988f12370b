/**
 * The steps for a raw pool (metadata and data files or devices named by
 * the user), in the order they must be taken, with the real paths and
 * sizes. The order is the point: the original metadata is copied byte
 * for byte first (whatever happens, it can be examined again, damaged
 * blocks and all: a pack keeps only the blocks that check), and nothing
 * overwrites it unless that copy is there, equal to it; the candidate blocks are
 * copied out before anything activates the pool (a pool whose space maps
 * are rebuilt hands leaked blocks out to be overwritten); repair writes a
 * new device and never the original; the result is checked by both
 * thin_check generations before it is swapped in.
 */
import { metadataName, type PoolSource } from '../pool-source.js';
import type { Diagnosis } from './diagnose.js';
import type { PlanStep } from './report.js';

/** The problems whose fix writes the pool's metadata (a repair, or the needs_check flag cleared): the daemons' plans keep copies first. */
export const METADATA_WORK_CODES: ReadonlySet<string> = new Set([
  'superblock',
  'lost_mappings',
  'leaked_blocks',
  'metadata_space_exhausted',
  'needs_check_flag',
]);

/** More candidates than this get one dd loop instead of a line each. */
const MAX_DD_LINES = 32;

/** The dd lines (or one loop, for many) that copy the candidate blocks off the data device into data-block-N.bin. */
export function saveCandidatesCommand(candidates: ReadonlyArray<{ dataBlock: number }>, data: string, blockBytes: number): string {
  const q = shellQuote;
  return candidates.length <= MAX_DD_LINES
    ? candidates.map((c) => `dd if=${q(data)} of=data-block-${c.dataBlock}.bin bs=${blockBytes} skip=${c.dataBlock} count=1`).join('\n')
    : `for b in ${candidates.map((c) => c.dataBlock).join(' ')}; do dd if=${q(data)} of=data-block-$b.bin bs=${blockBytes} skip=$b count=1; done`;
}

export function rawPlan(source: PoolSource, d: Omit<Diagnosis, 'report'> & { report: Pick<Diagnosis['report'], 'problems' | 'candidates'> }): PlanStep[] {
  const { problems, candidates } = d.report;
  const codes = new Set(problems.filter((p) => p.severity !== 'info').map((p) => p.code));
  if (codes.size === 0) return [];
  const meta = metadataName(source);
  const data = typeof source.data === 'string' ? source.data : (source.data?.name ?? "DATA (the pool's data device)");
  const q = shellQuote;
  const steps: PlanStep[] = [];
  // Only the data side is wrong: the metadata is healthy, and nothing of it is copied, repaired or guarded.
  if ([...codes].every((c) => c === 'data_space_exhausted' || c === 'data_device_too_small')) return dataSteps(codes, problems);
  const before = `${meta}.before-doctor`;
  const originalBytes = d.metadataBlocks * 4096;
  steps.push({
    step:
      `First, with the pool not loaded, copy the original metadata byte for byte (${originalBytes} bytes; holes where it is zero) to ${before}: whatever happens next it can be examined again, damaged blocks included, and no later step overwrites ${meta} unless this copy equals it. ` +
      "The pack beside it (thin_metadata_pack's format, for sending) is only a compact copy of the metadata blocks that check: the damaged blocks are not in it, they unpack as zeros.",
    command: [`cp --sparse=always ${q(meta)} ${q(before)}`, `dmthin metadata pack -i ${q(meta)} -o ${q(`${meta}.pack`)}`].join('\n'),
  });
  steps.push({
    step: 'Keep the pool inactive until the last step: no activation, no lvconvert --repair, and nothing that writes the metadata or the data (thin_check --auto-repair, --clear-needs-check-flag) other than the steps below, in their order.',
  });
  if (candidates.length > 0 && d.blockBytes) {
    const bs = d.blockBytes;
    const why = `Save the ${candidates.length} candidate data block${candidates.length === 1 ? '' : 's'} (${bs} bytes each: counted used, mapped by nothing; they may hold the lost data) before anything activates the pool: a repaired pool hands them out again to be overwritten.`;
    steps.push({ step: why, command: saveCandidatesCommand(candidates, data, bs) });
  }
  if (codes.has('data_device_too_small')) steps.push(...dataSteps(new Set(['data_device_too_small']), problems));
  if (d.repairError !== undefined && /newest generation cannot be told/.test(d.repairError)) {
    // Repair refuses to guess; the admin knows the device list, which decides it.
    steps.push({
      step: `No superblock says which generation of the trees is newest, and the trees do not order them (${d.repairError}). Compare each one's thin ids with the devices the pool should have (LVM: lvs -a -o lv_name,thin_id; Docker: the metadata/ files' device_id), then repair with that one's two override roots into a new device of ${d.metadataBlocks * 4096} bytes.`,
      command: `dmthin repair -i ${q(meta)} -o ${q(`${meta}.repaired`)} --override-mapping-root M --override-details-root D${d.dataBlockSize !== undefined ? ` --data-block-size ${d.dataBlockSize}` : ''}`,
    });
  } else if (d.repairError !== undefined && !/data block size/.test(d.repairError)) {
    steps.push({
      step: `Repair cannot rebuild this metadata as it is (${d.repairError}). Make sure ${meta} is the pool's whole metadata device (not an XML dump, not a partition of the wrong disk); else restore the newest backup (thin_dump XML with dmthin restore, or a pack with dmthin metadata unpack) into a new device.`,
    });
  } else if (d.needsRepair || codes.has('metadata_space_exhausted')) {
    if (d.repairError !== undefined && d.dataBlockSize === undefined && source.doctorCommand) {
      // Without the block size nothing can be rebuilt or located: the report and kit are partial until it is given.
      steps.push({
        step:
          "The data block size was in the lost superblock only: find the pool's, in 512-byte sectors (LVM: lvs -o+chunk_size VG/POOL, 64.00k being 128; " +
          'a live pool: the 4th argument of its dmsetup table line; Docker: 128 unless dm.blocksize was set) and run this doctor again with it ' +
          'into a new kit: then it says what is lost, names the candidates and holds the repaired metadata',
        command: `${source.doctorCommand} --data-block-size SECTORS -o NEWKIT`,
      });
    }
    const sb = problems.find((p) => p.code === 'superblock');
    if (sb && /other consistent generations with other devices exist/.test(sb.summary)) {
      // Devices deleted after the last write come back in the generation repair takes: the admin knows which should.
      steps.push({
        step:
          "Before trusting the repair, compare the thin ids it keeps (the superblock problem above) with the devices the pool should have (LVM: lvs -a -o lv_name,thin_id; Docker: the metadata/ files' device_id). " +
          'A device deleted after the last write comes back: delete it again once the pool is active, or repair from the generation that matches, with its two override roots (named above) added to the repair below',
      });
    }
    const bsArg = d.dataBlockSize !== undefined ? ` --data-block-size ${d.dataBlockSize}` : d.repairError !== undefined ? ' --data-block-size SECTORS' : '';
    const blocks = d.space ? d.space.growTo : d.metadataBlocks;
    const bytes = blocks * 4096;
    const larger = d.space
      ? `, larger than the ${d.metadataBlocks * 4096} bytes now: the same metadata in a device of the same size runs out again at the first commit`
      : ' (the same size as the original)';
    steps.push({
      step: `Make a new metadata file or device of ${bytes} bytes${larger}; never repair into the original.`,
      command: `truncate -s ${bytes} ${q(`${meta}.repaired`)}`,
    });
    steps.push({
      step: 'Repair into it (the original is only read): the newest trees, lost ranges filled from older copies only where the space map vouches for them, both space maps rebuilt.',
      command: `dmthin repair -i ${q(meta)} -o ${q(`${meta}.repaired`)}${bsArg}`,
    });
    steps.push({
      step: 'Check the result with both thin_check generations, thin-provisioning-tools 0.9 and 1.x (LVM runs the one installed at activation): both must pass.',
      command: `thin_check ${q(`${meta}.repaired`)}`,
    });
    // cmp first: the dd runs only while the byte-for-byte copy of step 1 holds what it overwrites.
    const swap = `cmp -n ${originalBytes} ${q(meta)} ${q(before)} && dd if=${q(`${meta}.repaired`)} of=${q(meta)} bs=4096 conv=fsync`;
    steps.push({
      step: d.space
        ? `Swap it in: grow the pool's metadata device to ${bytes} bytes, copy the repaired metadata onto it (only if ${before} holds the original: cmp checks), and load the pool with it; keep ${before} until the pool has run a while.`
        : `Swap it in: with the pool not loaded, copy the repaired metadata onto the pool's metadata device (only if ${before} holds the original: cmp checks), or load the pool with the new device; keep ${before} until the pool has run a while.`,
      command: swap,
    });
  } else {
    if (codes.has('leaked_blocks')) {
      steps.push({
        step: `Give the leaked blocks back (only after the candidates are saved, and only while ${before} holds the original: cmp checks): the one repair check makes, in place.`,
        command: `cmp ${q(meta)} ${q(before)} && dmthin check --auto-repair ${q(meta)}`,
      });
    }
    if (codes.has('needs_check_flag')) {
      steps.push({
        step: `Clear needs_check: check clears it (in place) only when the metadata checks clean${codes.has('leaked_blocks') ? '' : `, and only while ${before} holds the original (cmp checks)`}.`,
        command: codes.has('leaked_blocks')
          ? `dmthin check --clear-needs-check-flag ${q(meta)}`
          : `cmp ${q(meta)} ${q(before)} && dmthin check --clear-needs-check-flag ${q(meta)}`,
      });
    }
  }
  if (codes.has('data_space_exhausted')) steps.push(...dataSteps(new Set(['data_space_exhausted']), problems));
  if (candidates.some((c) => c.matches.length > 0)) {
    steps.push({
      step: "Only then look at the candidates: `dmthin doctor -o DIR` writes each matched device's export with the candidate blocks placed where the evidence says (inferred, never written into the metadata); copy from it what the device lost, check it (fsck -n IMAGE; an image that begins with a partition table, as a VM's disk does (blkid -p IMAGE says PTTYPE), is mapped first: L=$(losetup -P --show -f --read-only IMAGE), fsck -n each of its partitions holding a filesystem (/dev/loopNpM), losetup -d $L), and keep the repaired device as it is.",
    });
  }
  steps.push({
    step: 'What not to do: repair into the original device; repair exhausted metadata into a device of the same size; give back leaked blocks or activate before the candidates are saved; delete the byte-for-byte copy of the original metadata before the repaired pool is proven (its pack is no substitute: it lost the damaged blocks).',
  });
  return steps;
}

/** The steps for what is wrong on the data side only (the metadata needs nothing). */
function dataSteps(codes: ReadonlySet<string>, problems: readonly { code: string; facts?: Record<string, unknown> }[]): PlanStep[] {
  const steps: PlanStep[] = [];
  if (codes.has('data_device_too_small')) {
    const p = problems.find((x) => x.code === 'data_device_too_small');
    steps.push({
      step: `Give the pool its whole data device back: it must hold at least ${p?.facts?.needed ?? 'nr_data_blocks x block size'} bytes (a truncated image copied again, the missing disk attached). Never shrink the pool's data space map to fit.`,
    });
  }
  if (codes.has('data_space_exhausted')) {
    steps.push({ step: 'Grow the data device, then reload the pool table with the new length: the kernel extends the data space map when the pool resumes.' });
  }
  return steps;
}

/** A path as a shell word. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`;
}
