/**
 * `dmthin docker doctor ROOT`: the raw doctor (thin/doctor/diagnose.ts) on
 * the pool of a Docker devicemapper root, its devices named as Docker knows
 * them (a container's layer by the container's name, image layers and the
 * base device by hash), with a plan in Docker's terms: Docker stopped first
 * (on start it rolls back an open transaction and deletes devices it has no
 * record of), the pool's files kept as found, the repaired metadata put in
 * place of the loop file. Nothing is written.
 */
import { statSync } from 'node:fs';
import { type Diagnosis, examine } from '../thin/doctor/diagnose.js';
import type { DoctorReport, PlanStep, Problem } from '../thin/doctor/report.js';
import { METADATA_WORK_CODES, saveCandidatesCommand } from '../thin/doctor/plan.js';
import { isBlockDevicePath } from '../io/files.js';
import { UsageError } from '../errors.js';
import { MetadataError } from '../format/errors.js';
import { Metadata } from '../thin/metadata.js';
import type { PoolSource } from '../thin/pool-source.js';
import { openDockerPool } from './pool-source.js';
import type { DockerDevice, DockerTree, ReadOptions } from './tree.js';

export interface DockerDoctorOptions extends ReadOptions {
  onStage?: (stage: string) => void;
  onProgress?: (done: number, total: number) => void;
  /** Called with the finished report while the pool's files are open (the kit is written here). */
  kit?: (report: DoctorReport, source: PoolSource, diagnosis: Diagnosis) => void;
}

export function dockerDoctor(root: string, options: DockerDoctorOptions = {}): DoctorReport {
  const source = openDockerPool(root, { metadata: options.metadata, data: options.data });
  try {
    const diagnosis = examine(source, {
      names: dockerNames(source.tree),
      problems: recordProblems(source.tree),
      onStage: options.onStage,
      onProgress: options.onProgress,
    });
    const report = diagnosis.report;
    report.plan = dockerPlan(report, source.tree, source.running);
    options.kit?.(report, source, diagnosis);
    return report;
  } finally {
    source.close();
  }
}

const short = (hash: string): string => hash.slice(0, 12);

/**
 * Where Docker's records and the pool disagree, as Docker acts on it at its
 * next start (moby daemon/graphdriver/devmapper): nothing when the
 * metadata cannot be read (the raw doctor says why).
 */
export function recordProblems(tree: DockerTree): Problem[] {
  let md: Metadata;
  try {
    md = Metadata.open(tree.metadataFile);
  } catch (e) {
    if (e instanceof MetadataError || e instanceof UsageError) return [];
    throw e;
  }
  try {
    let ids: Set<number>;
    try {
      ids = new Set(md.devices().map((d) => d.devId));
    } catch (e) {
      if (e instanceof MetadataError || e instanceof UsageError) return [];
      throw e;
    }
    const tid = md.superblock.transactionId;
    const out: Problem[] = [];
    const tm = tree.transactionMetadata;
    const open = tm !== undefined && BigInt(tm.openTransactionId) > tid ? tm : undefined;
    for (const d of tree.devices) {
      if (d.deleted || ids.has(d.deviceId)) continue;
      out.push({
        code: 'docker_device_missing',
        severity: 'non_fatal',
        summary: `Docker records ${dockerName(d)} as thin device ${d.deviceId}, which the pool does not have: ${d.role.startsWith('container') ? 'the container cannot start' : 'what is built on it cannot start'}`,
        fix: `if the pool lost it (lost_mappings, an older metadata restored), the kit's plan may bring it back; otherwise remove ${d.role.startsWith('container') ? 'the container' : 'the image'} with Docker`,
        facts: { deviceId: d.deviceId, hash: d.hash },
      });
    }
    const known = new Set(tree.devices.map((d) => d.deviceId));
    for (const id of [...ids].sort((a, b) => a - b)) {
      if (known.has(id)) continue;
      const rolledBack = open?.deviceId === id;
      out.push({
        code: 'docker_device_unrecorded',
        severity: 'info',
        summary: rolledBack
          ? `thin device ${id} is the open transaction's (${open.openTransactionId}, the pool is at ${tid}): Docker deletes it when it next starts`
          : `thin device ${id} is in the pool but Docker has no record of it: Docker ignores it and its blocks stay allocated`,
        fix: rolledBack
          ? 'nothing: Docker rolls the transaction back'
          : `export it first if it may matter (dmthin export --metadata ${tree.metadataFile} --data ${tree.dataFile} --dev-id ${id} -o FILE)`,
        facts: { deviceId: id },
      });
    }
    return out;
  } finally {
    md.close();
  }
}

/** A device as the user knows it: the container for its layers, the hash for image layers, "base". */
export function dockerName(d: DockerDevice): string {
  switch (d.role) {
    case 'base':
      return 'base device';
    case 'container layer':
      return `container ${d.container ?? short(d.containerId ?? d.hash)} (layer ${short(d.hash)})`;
    case 'container init layer':
      return `container ${d.container ?? short(d.containerId ?? d.hash)} (init layer ${short(d.hash)})`;
    case 'image layer':
      return `image layer ${short(d.hash)}`;
    default:
      return `device ${short(d.hash)}`;
  }
}

/** Device id -> the user's name and Docker's size for it (size 0: Docker recorded none). */
export function dockerNames(tree: DockerTree): Map<number, { name: string; size?: number }> {
  return new Map(tree.devices.filter((d) => !d.deleted).map((d) => [d.deviceId, { name: dockerName(d), ...(d.size > 0 ? { size: d.size } : {}) }]));
}

/** The steps in Docker's terms, KIT standing for the kit's directory. */
export function dockerPlan(report: DoctorReport, tree: DockerTree, running?: string): PlanStep[] {
  const bad = report.problems.filter((p) => p.severity !== 'info');
  if (bad.length === 0) return [];
  const codes = new Set(bad.map((p) => p.code));
  // Records alone (a device Docker names and the pool lacks): Docker's own tools settle them, the pool is sound.
  if (bad.every((p) => p.code.startsWith('docker_')))
    return [{ step: `The pool is sound; Docker's records name devices it lacks: ${bad.map((p) => p.fix).join('; ')}` }];
  const meta = tree.metadataFile;
  const data = tree.dataFile;
  const steps: PlanStep[] = [];
  steps.push({
    step: `Stop Docker, and its socket, which would start it again: on start it rolls back an open transaction, deletes thin devices it has no record of and lets the pool hand out blocks that may hold lost data${running ? `. The pool ${running} is active: once Docker has stopped, check that it is gone (dmsetup ls) and remove it if not` : ''}`,
    command: `systemctl stop docker.socket docker.service${running ? `\ndmsetup remove ${running}` : ''}`,
  });
  const isDevice = isBlockDevicePath(meta);
  const metadataWork = bad.some((p) => METADATA_WORK_CODES.has(p.code));
  if (metadataWork) {
    steps.push({
      step: `Keep the pool's metadata and Docker's records as found, byte for byte, damaged blocks included (the kit's original-metadata.bin is the same copy; its original-metadata.pack is only a compact copy of the metadata blocks that check: the damaged blocks are not in it; with no kit yet, make it: dmthin docker doctor ${tree.root} -o KIT)`,
      command: `cp --sparse=always ${meta} ${meta}.before\ncp -a ${tree.devicemapperRoot}/metadata ${tree.devicemapperRoot}/metadata.before`,
    });
  }
  if (report.candidates.length > 0) {
    // The candidates' own offsets give the block size: the report carries no other copy of it.
    const ref = report.candidates.find((x) => x.dataBlock > 0);
    const bs = ref ? ref.offset / ref.dataBlock : undefined;
    steps.push({
      step: `Copy the ${report.candidates.length} candidate data block(s) off this disk before Docker starts again (the kit's candidates/ holds the same bytes): the repaired metadata counts them free, and Docker's next writes overwrite them`,
      command: bs === undefined ? undefined : saveCandidatesCommand(report.candidates, data, bs),
    });
  }
  if (metadataWork) {
    const exhausted = codes.has('metadata_space_exhausted');
    steps.push(
      isDevice
        ? {
            step: `The metadata is a block device (direct-lvm: an LVM thin pool Docker was given): repair it with LVM's tools, as dmthin lvm doctor on its disks plans it${exhausted ? ', into a larger metadata LV' : ''}`,
          }
        : {
            step: `Put the kit's repaired metadata in place of the loop file${exhausted ? ' (it is larger than the old file, as exhausted metadata needs: never repair it into a file of the same size)' : ''}, only while ${meta}.before holds the original (cmp checks); Docker attaches it as it finds it`,
            command: `cmp ${meta} ${meta}.before && cp --sparse=always KIT/repaired.meta ${meta}`,
          },
    );
  }
  if (codes.has('data_space_exhausted') && !isDevice) {
    let size = 0;
    try {
      size = statSync(data).size;
    } catch {
      size = 0;
    }
    steps.push({
      step: `Grow the data file${size ? ` to twice its ${size} bytes` : ''} (Docker loads the pool with the data file's size when it starts); deleting unused images and containers frees blocks too`,
      command: `truncate -s ${size ? 2 * size : '+SIZE'} ${data}`,
    });
  }
  steps.push({ step: 'Start Docker and check the pool and every container', command: `systemctl start docker\ndocker ps -a\ndmthin docker ls ${tree.root}` });
  if (metadataWork) steps.push({ step: `Only when every container starts and reads as it should: remove ${meta}.before and the kit. Not before` });
  return steps;
}
