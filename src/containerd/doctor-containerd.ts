/**
 * `dmthin containerd doctor ROOT --metadata M --data D`: the raw doctor
 * (thin/doctor/diagnose.ts) on the devmapper snapshotter's pool, each thin
 * named as containerd knows it (NAMESPACE/KEY, its container), with the
 * stores' disagreements (inventory.ts) among the problems, and a plan in
 * containerd's terms: containerd stopped first (on start its snapshotter
 * marks unfinished devices Faulty and its garbage collector removes
 * snapshots no namespace references), the pool's files and the three stores
 * kept as found, the repaired metadata put back. Nothing is written.
 */
import { resolve } from 'node:path';
import { type Diagnosis, examine } from '../thin/doctor/diagnose.js';
import type { DoctorReport, PlanStep, Problem } from '../thin/doctor/report.js';
import { METADATA_WORK_CODES, saveCandidatesCommand } from '../thin/doctor/plan.js';
import { isBlockDevicePath } from '../io/files.js';
import type { PoolSource } from '../thin/pool-source.js';
import { ArgumentError, UsageError } from '../errors.js';
import { MetadataError } from '../format/errors.js';
import { BoltError } from '../format/bbolt/errors.js';
import { type ContainerdInventory, type ContainerdProblem, containerdInventory } from './inventory.js';
import { type RemovedSnapshot, removedSnapshots } from './removed.js';
import type { Metadata } from '../thin/metadata.js';
import { openMetadata } from '../thin/pool-source.js';
import { forEachMapping } from '../thin/mapping-scan.js';
import { type ContainerdLocations, type ContainerdPoolSource, openContainerdPool } from './pool-source.js';

export interface ContainerdDoctorOptions {
  onStage?: (stage: string) => void;
  onProgress?: (done: number, total: number) => void;
  /** Called with the finished report while the pool's files are open (the kit is written here). */
  kit?: (report: DoctorReport, source: PoolSource, diagnosis: Diagnosis) => void;
}

/** What the store problems weigh: a pool-side loss is non-fatal to the pool but costs a snapshot; bookkeeping that containerd settles itself is info. */
const SEVERITY: Record<ContainerdProblem['code'], Problem['severity']> = {
  'not-in-snapshotter': 'non_fatal',
  'snapshot-without-device': 'non_fatal',
  'device-not-in-pool': 'non_fatal',
  'device-unsettled': 'non_fatal',
  'device-faulty': 'non_fatal',
  'device-removed': 'info',
  'device-error': 'info',
  'thin-unknown': 'info',
  'device-without-snapshot': 'info',
  'snapshotter-orphan': 'info',
  'container-without-snapshot': 'non_fatal',
  // The raw doctor judges the pool's metadata itself.
  'damaged-metadata': 'info',
  'damaged-mappings': 'info',
  'data-too-small': 'info',
  'unreadable-record': 'non_fatal',
};

const FIX: Record<ContainerdProblem['code'], string> = {
  'not-in-snapshotter': 'the snapshot cannot be mounted: remove it with ctr snapshots rm (its container with ctr containers rm) and make it again',
  'snapshot-without-device': 'the snapshot cannot be mounted: remove it with ctr snapshots rm and make it again',
  'device-not-in-pool':
    'if the pool lost the thin (lost_mappings, an older metadata restored), the kit may bring it back; otherwise remove its snapshot with ctr',
  'device-unsettled': 'export the thin first if it may matter; then let containerd mark it Faulty and remove its snapshot with ctr',
  'device-faulty': 'export the thin first if it may matter; then remove its snapshot with ctr snapshots rm',
  'device-removed': 'nothing, unless it may matter: export it before containerd starts',
  'device-error': 'see the device-unsettled or device-faulty line for the same device',
  'thin-unknown':
    'export it first if it may matter (dmthin export --dev-id ID); its blocks stay allocated until it is deleted (dmsetup message POOL 0 "delete ID")',
  'device-without-snapshot': 'nothing: a record left by an unfinished removal',
  'snapshotter-orphan': "nothing: containerd's garbage collector removes it; export it first if it may matter",
  'container-without-snapshot': 'the container cannot start: remove it (ctr containers rm) and create it again',
  'damaged-metadata': 'see the pool problems below',
  'damaged-mappings': 'see lost_mappings',
  'data-too-small': 'find the whole data file (or device) before anything else: see data_device_too_small',
  'unreadable-record': 'keep the store as found; the records around it are read',
};

function storeProblems(inv: ContainerdInventory): Problem[] {
  return inv.problems
    .filter((p) => p.code !== 'damaged-metadata' && p.code !== 'damaged-mappings' && p.code !== 'data-too-small')
    .map((p) => ({
      code: `containerd_${p.code.replace(/-/g, '_')}`,
      severity: SEVERITY[p.code],
      summary: p.detail,
      fix: FIX[p.code],
      facts: {
        ...(p.namespace ? { namespace: p.namespace } : {}),
        ...(p.key ? { key: p.key } : {}),
        ...(p.deviceName ? { deviceName: p.deviceName } : {}),
        ...(p.deviceId !== undefined ? { deviceId: p.deviceId } : {}),
      },
    }));
}

/** Thin id -> the user's name (NAMESPACE/KEY, its container) and the snapshotter's size for it. */
export function containerdNames(inv: ContainerdInventory): Map<number, { name: string; size?: number }> {
  const out = new Map<number, { name: string; size?: number }>();
  for (const s of inv.snapshots) {
    if (s.deviceId === undefined) continue;
    const users = s.containers.length ? `container ${s.containers.join(', ')}` : s.images.length ? `image ${s.images.join(', ')}` : '';
    out.set(s.deviceId, {
      name: `${s.namespace}/${s.key}${users ? ` (${users})` : ''}`,
      ...(s.size ? { size: s.size } : {}),
    });
  }
  return out;
}

export function containerdDoctor(loc: ContainerdLocations, options: ContainerdDoctorOptions = {}): DoctorReport {
  if (!loc.metadata) {
    throw new ArgumentError(
      'the doctor judges the pool itself: give its metadata and data with --metadata M --data D (containerd does not record them; dmthin containerd ls reads the stores alone)',
    );
  }
  const source = openContainerdPool(loc);
  try {
    // The pool's devices, not its check: examine judges the metadata itself.
    const inv = containerdInventory(source, { pool: 'listed' });
    const diagnosis = examine(source, { names: containerdNames(inv), problems: storeProblems(inv), onStage: options.onStage, onProgress: options.onProgress });
    const report = diagnosis.report;
    report.problems.push(...layerCopies(report, inv, source));
    // Opened once for what the report alone cannot say; a superblock that cannot be read leaves both unsaid (the raw doctor says why).
    let removed: RemovedSnapshot[] = [];
    const md = openOrUndefined(source);
    if (md) {
      try {
        report.problems.push(...lostInChildren(report, inv, source, md, diagnosis.blockBytes));
        removed = removedToKeep(source, md);
      } finally {
        md.close();
      }
    }
    report.plan = containerdPlan(report, source, inv, removed);
    options.kit?.(report, source, diagnosis);
    return report;
  } finally {
    source.close();
  }
}

/** The steps in containerd's terms, KIT standing for the kit's directory. */
export function containerdPlan(report: DoctorReport, source: ContainerdPoolSource, inv?: ContainerdInventory, removed: RemovedSnapshot[] = []): PlanStep[] {
  const pool = inv?.pool ?? { name: source.poolName, read: false };
  const bad = report.problems.filter((p) => p.severity !== 'info');
  if (bad.length === 0) return [];
  if (bad.every((p) => p.code.startsWith('containerd_'))) {
    return [{ step: `The pool is sound; containerd's records disagree with it: ${[...new Set(bad.map((p) => p.fix))].join('; ')}` }];
  }
  const meta = String(source.metadata);
  const data = typeof source.data === 'string' ? source.data : 'DATA';
  const steps: PlanStep[] = [];
  const hostRoot = source.config?.root;
  if (hostRoot && resolve(hostRoot) !== resolve(source.root)) {
    steps.push({
      step: `The paths below are where this command read the files: ROOT ${source.root}, which the config says was ${hostRoot} on the host. If they are copies of a dead host's files, either take the steps on that host with its own paths (the stores under ${hostRoot}${source.config?.rootPath ? ` and ${source.config.rootPath}` : ''}, the pool's metadata and data where its dmsetup table names them), or take them here on the copies and put the repaired metadata back in place of the host's, with containerd stopped there`,
    });
  }
  steps.push({
    step: `Stop containerd (and what starts it: kubelet, firecracker-containerd's service): on start its snapshotter marks unfinished devices Faulty, its garbage collector removes snapshots no namespace references, and the pool hands out blocks that may hold lost data${source.running ? `. The pool ${source.running} is active: remove its thin devices and the pool once containerd has stopped` : ''}`,
    command: `systemctl stop containerd${source.running ? `\ndmsetup ls | grep '^${source.running}-snap-' | cut -f1 | xargs -r -n1 dmsetup remove\ndmsetup remove ${source.running}` : ''}`,
  });
  const metadataWork = bad.some((p) => METADATA_WORK_CODES.has(p.code));
  const isDevice = isBlockDevicePath(meta);
  const stores = source.files.filter((f) => f.endsWith('.db'));
  if (metadataWork) {
    steps.push({
      step: `Keep the pool's metadata and containerd's three stores as found, byte for byte (with no kit yet, make it: ${source.doctorCommand} -o KIT)`,
      command: [
        isDevice ? `dd if=${meta} of=pool-metadata.before bs=1M` : `cp --sparse=always ${meta} ${meta}.before`,
        ...stores.map((f) => `cp -a ${f} ${f}.before`),
      ].join('\n'),
    });
  }
  if (report.candidates.length > 0) {
    // The candidates' own offsets give the block size: the report carries no other copy of it.
    const ref = report.candidates.find((x) => x.dataBlock > 0);
    const bs = ref ? ref.offset / ref.dataBlock : undefined;
    steps.push({
      step: `Copy the ${report.candidates.length} candidate data block(s) off this disk before containerd starts again (the kit's candidates/ holds the same bytes): the repaired metadata counts them free`,
      command: bs === undefined ? undefined : saveCandidatesCommand(report.candidates, data, bs),
    });
  }
  if (metadataWork && removed.length > 0) {
    // A repair writes the live trees anew: the older copies that removed snapshots survive in are not carried over.
    const label = (r: RemovedSnapshot): string =>
      r.names.length === 1 && r.names[0].key ? `${r.names[0].namespace}/${r.names[0].key} (thin ${r.deviceId})` : `thin ${r.deviceId}`;
    steps.push({
      step: `Bring back the ${removed.length} removed snapshot(s) that survive in this metadata (${removed.map(label).join(', ')}) before the repaired metadata replaces it: the repair does not carry them, and containerd's next writes take their blocks`,
      command: removed
        .map((r) => `dmthin containerd export ${source.root} ${r.deviceId} --deleted -o removed-thin-${r.deviceId}.img ${source.locationArgs}`)
        .join('\n'),
    });
  }
  if (metadataWork) {
    steps.push({
      step: "Before the pool is touched, what matters (a container's files, a lost layer) can be read as the repair brings it back: give the kit's repaired metadata as --metadata",
      command: `dmthin containerd export ${source.root} KEY -n NAMESPACE -o FILE ${source.locationArgs.replace(/--metadata \S+/, '--metadata KIT/repaired.meta')}`,
    });
    steps.push(
      isDevice
        ? {
            step: `Write the kit's repaired metadata onto the pool's metadata device, only after the copy above (cmp checks); if the repaired metadata is larger than the device (metadata_space_exhausted), give the pool a larger metadata device first`,
            command: `cmp ${meta} pool-metadata.before && dd if=KIT/repaired.meta of=${meta} bs=1M conv=fsync`,
          }
        : {
            step: `Put the kit's repaired metadata in place of the metadata file, only while ${meta}.before holds the original (cmp checks)`,
            command: `cmp ${meta} ${meta}.before && cp --sparse=always KIT/repaired.meta ${meta}`,
          },
    );
  }
  const namespaces = inv ? [...new Set(inv.snapshots.map((x) => x.namespace))].join(' ') || 'default' : 'default';
  // containerd never makes the pool: the admin's table, rebuilt from what the metadata says (the low water mark is the admin's choice).
  const sectors = pool.dataBlockSize && pool.nrDataBlocks ? pool.dataBlockSize * pool.nrDataBlocks : undefined;
  const files = !isDevice;
  const table = `0 ${sectors ?? 'DATA_SECTORS'} thin-pool ${files ? '$M' : meta} ${files ? '$D' : data} ${pool.dataBlockSize ?? 'BLOCK_SECTORS'} 32768`;
  steps.push({
    step: `Load the pool again as it was made (${files ? 'its files on loop devices, ' : ''}the table your setup uses: this one has the metadata's block size and data size; the low water mark is yours, 32768 as containerd's docs have it, and any value loads the pool), start containerd, and check every snapshot`,
    command: [
      ...(files ? [`M=$(losetup -f --show ${meta})`, `D=$(losetup -f --show ${data})`] : []),
      `dmsetup create ${source.poolName} --table "${table}"`,
      'systemctl start containerd',
      `for ns in ${namespaces}; do ctr${source.config?.grpcAddress ? ` --address ${source.config.grpcAddress}` : ''} -n $ns snapshots --snapshotter devmapper ls; done`,
      (source.doctorCommand ?? 'dmthin containerd doctor').replace(' doctor ', ' ls '),
    ].join('\n'),
  });
  if (metadataWork) steps.push({ step: `Only when every container starts and reads as it should: remove the .before copies and the kit. Not before` });
  return steps;
}

/**
 * A committed layer's key is its chain id: the same key in two namespaces
 * is the same layer unpacked twice into two thins: the same files. Where one copy lost
 * blocks and another lost none, the intact one is where the lost bytes are.
 */
function layerCopies(report: DoctorReport, inv: ContainerdInventory, source: ContainerdPoolSource): Problem[] {
  const lostIds = new Set(report.devices.filter((d) => d.lost.length > 0).map((d) => d.deviceId));
  const out: Problem[] = [];
  for (const s of inv.snapshots) {
    if (s.deviceId === undefined || !lostIds.has(s.deviceId) || s.kind !== 'committed' || !s.key.startsWith('sha256:')) continue;
    const copy = inv.snapshots.find((o) => o !== s && o.key === s.key && o.deviceId !== undefined && !lostIds.has(o.deviceId));
    if (!copy) continue;
    out.push({
      code: 'containerd_layer_copy',
      severity: 'info',
      summary: `${s.namespace}/${s.key} (thin ${s.deviceId}) lost blocks; the same layer (the same chain id: unpacked again from the same content, so the same files, though not the same bytes on its device) is ${copy.namespace}/${copy.key} (thin ${copy.deviceId}), which lost none`,
      fix: `read the lost files from the intact copy (dmthin containerd export ${source.root} ${copy.key} -n ${copy.namespace} -o FILE ${source.locationArgs}), or let containerd unpack the image again once the pool is repaired`,
      facts: { deviceId: s.deviceId, copyDeviceId: copy.deviceId ?? -1, namespace: copy.namespace },
    });
  }
  return out;
}

function openOrUndefined(source: ContainerdPoolSource): Metadata | undefined {
  try {
    return openMetadata(source);
  } catch (e) {
    if (e instanceof MetadataError || e instanceof UsageError) return undefined;
    throw e;
  }
}

/** Removed snapshots whose bytes the evidence vouches for (not discarded): what a repair would lose for good. */
function removedToKeep(source: ContainerdPoolSource, md: Metadata): RemovedSnapshot[] {
  try {
    return removedSnapshots(source, md).removed.filter((r) => r.intact + r.shared > 0 && r.discarded !== true);
  } catch (e) {
    // Metadata too damaged to scan for what older copies hold: the plan then has no such step, as before the scan existed.
    if (e instanceof MetadataError || e instanceof UsageError || e instanceof BoltError) return [];
    throw e;
  }
}

/**
 * Where a committed layer's lost blocks still are: a snapshot made from it
 * shares every block it has not written, and a committed layer is never
 * written again. So a child's mapping inside the parent's lost range whose
 * time is older than the child's creation (dm-thin's time counts
 * snapshots) is the parent's own mapping: the same data block, the lost
 * bytes. Counted here, from the metadata as it is; nothing is rewritten.
 */
function lostInChildren(report: DoctorReport, inv: ContainerdInventory, source: ContainerdPoolSource, md: Metadata, blockBytes: number | undefined): Problem[] {
  if (!blockBytes) return [];
  const lost = report.devices.filter((d) => d.lost.length > 0);
  if (lost.length === 0) return [];
  const out: Problem[] = [];
  let devices: ReturnType<Metadata['devices']>;
  try {
    devices = md.devices();
  } catch (e) {
    if (e instanceof MetadataError) return [];
    throw e;
  }
  for (const d of lost) {
    const parent = inv.snapshots.find((s) => s.deviceId === d.deviceId);
    if (!parent || parent.kind !== 'committed') continue;
    const lostWritten = d.lostMappedBytes !== undefined ? d.lostMappedBytes / blockBytes : undefined;
    for (const child of inv.snapshots.filter((s) => s.namespace === parent.namespace && s.parent === parent.key && s.deviceId !== undefined)) {
      const thin = devices.find((t) => t.devId === child.deviceId);
      if (!thin || thin.mappingRoot === undefined) continue;
      const inLost = (v: number): boolean => d.lost.some((r) => v * blockBytes >= r.offset && v * blockBytes < r.offset + r.length);
      let shared = 0;
      try {
        forEachMapping(md.reader, thin.mappingRoot, thin.devId, (v, _data, time) => {
          if (time < thin.creationTime && inLost(v)) shared++;
        });
      } catch (e) {
        if (!(e instanceof MetadataError)) throw e;
        continue; // the child's own tree is damaged: it cannot vouch
      }
      if (shared === 0) continue;
      out.push({
        code: 'containerd_lost_in_child',
        severity: 'info',
        summary: `${shared} of the blocks ${parent.namespace}/${parent.key} (thin ${d.deviceId}) lost${lostWritten !== undefined ? ` (${lostWritten} written)` : ''} are still mapped, at the same places, by ${child.namespace}/${child.key} (thin ${child.deviceId}), made from it after it was committed, with times from before that: they are its own blocks, the lost bytes, shared`,
        fix: `read the lost files through the child (dmthin containerd export ${source.root} ${child.namespace}/${child.key} -o FILE ${source.locationArgs}): the files of the layer it did not change are the layer's; keep the pool's data as it is until they are read`,
        facts: { deviceId: d.deviceId, childDeviceId: child.deviceId ?? -1, sharedBlocks: shared },
      });
    }
  }
  return out;
}
