/**
 * Checks pool metadata the way thin_check does: the superblock, the device
 * details tree, every mapping tree (and the held metadata snapshot's),
 * then both space maps against counts computed from the trees.
 *
 * Findings are data (severity, block, device, key, message), never
 * exceptions: a damaged file yields a report, not a crash.
 */
import { BlockReader } from '../io/block-reader.js';
import { NODE_HEADER_SIZE, keyAt, valueOffset } from '../format/btree-node.js';
import { DEVICE_DETAILS_SIZE, type DeviceDetails, parseDeviceDetails } from '../format/device-details.js';
import { MetadataError } from '../format/errors.js';
import { MAX_METADATA_BLOCKS } from '../format/index-entry.js';
import { getU32, getU64 } from '../format/le.js';
import {
  validDataBlockSize,
  type Superblock,
  validateSuperblock,
} from '../format/superblock.js';
import { type TreeIssue, TreeWalker } from '../pdata/btree-walker.js';
import { RefCounts } from '../pdata/ref-counts.js';
import {
  type CountComparison,
  type SpaceMapProblem,
  compareCounts,
  countBitmapBlocks,
  readDataSpaceMap,
  readMetadataSpaceMap,
} from '../pdata/space-map-reader.js';

/** fatal and non-fatal fail a check (as in thin_check); a note informs and changes no verdict. */
export type Severity = 'fatal' | 'non-fatal' | 'note';

export interface Finding {
  severity: Severity;
  /** The part of the metadata: superblock, devices, mappings, data space map, metadata space map. */
  area: string;
  block?: number;
  device?: number;
  key?: number;
  message: string;
}

export interface CheckOptions {
  superBlockOnly?: boolean;
  skipMappings?: boolean;
  /** Report non-root internal nodes under a third full (thin_check 1.x does). */
  checkUnderfull?: boolean;
  /** Check the held metadata snapshot's trees instead (no space-map counts: its copy has none). */
  metadataSnap?: boolean;
  /** Use these roots instead of the superblock's (space-map counts are then not compared). */
  overrideMappingRoot?: number;
  overrideDetailsRoot?: number;
  /** Called as each stage starts, for progress output. */
  onStage?: (stage: string) => void;
}

export interface CheckResult {
  /** True when no fatal finding was made. */
  ok: boolean;
  findings: Finding[];
  transactionId?: bigint;
  /** Metadata blocks the on-disk metadata space map says are free. */
  metadataFreeBlocks?: number;
  nrDevices?: number;
  nrMappings?: number;
  /** Data blocks the on-disk data space map says are in use. */
  dataBlocksUsed?: number;
  leakedDataBlocks?: number;
  leakedMetadataBlocks?: number;
  /** Leaked blocks by space map, for --auto-repair. */
  leaks?: { data: number[]; metadata: number[] };
  /** The superblock's NEEDS_CHECK flag. */
  needsCheck?: boolean;
}

interface DeviceEntry extends DeviceDetails {
  devId: number;
}

export function check(path: string, options: CheckOptions = {}): CheckResult {
  let reader: BlockReader;
  const findings: Finding[] = [];
  const result: CheckResult = { ok: false, findings };
  try {
    reader = new BlockReader(path);
  } catch (e) {
    findings.push({ severity: 'fatal', area: 'input', message: (e as Error).message });
    return result;
  }
  try {
    runCheck(reader, options, result);
  } finally {
    reader.close();
  }
  result.ok = !findings.some((f) => f.severity === 'fatal');
  return result;
}

function runCheck(reader: BlockReader, options: CheckOptions, result: CheckResult): void {
  const findings = result.findings;
  const fatal = (area: string, message: string, extra: Partial<Finding> = {}): void => {
    findings.push({ severity: 'fatal', area, message, ...extra });
  };
  const stage = options.onStage ?? ((): void => {});

  stage('examining superblock');
  if (reader.nrBlocks === 0) {
    fatal('superblock', 'the metadata is empty: no superblock at block 0', { block: 0 });
    return;
  }
  let sb: Superblock;
  try {
    sb = validateSuperblock(reader.read(0), 0);
  } catch (e) {
    if (!(e instanceof MetadataError)) throw e;
    const head = Buffer.from(reader.read(0).subarray(0, 64)).toString('latin1');
    const hint = /^\s*(<\?xml|<superblock)/.test(head) ? ' (this looks like XML from thin_dump: check takes binary metadata; restore it first with dmthin restore)' : '';
    fatal('superblock', `${e.message}${hint}`, { block: 0 });
    return;
  }
  result.transactionId = sb.transactionId;
  result.needsCheck = (sb.flags & 1) !== 0;
  const fieldProblems = superblockFieldProblems(sb, reader.nrBlocks, 0);
  for (const p of fieldProblems) fatal('superblock', p, { block: 0 });
  if (fieldProblems.length > 0 || options.superBlockOnly) return;
  // A device shorter than the superblock says loses nothing by itself (a block
  // in use past its end fails the walk below), and thin_check 1.x passes it;
  // but the kernel will not load the pool (dm-thin.c maybe_resize_metadata_dev:
  // "metadata device too small"). A note says so without failing the check.
  const declared = sb.metadataSpaceMapRoot.nrBlocks;
  if (declared > reader.nrBlocks) {
    findings.push({
      severity: 'note',
      area: 'superblock',
      block: 0,
      message: `the metadata has ${reader.nrBlocks} blocks but its superblock says ${declared}: the kernel will not activate the pool until the device is ${declared * 8} sectors (${declared * 4} KiB) again`,
    });
  }

  const metaCounts = new RefCounts(Math.max(reader.nrBlocks, declared));
  const dataCounts = new RefCounts(sb.dataSpaceMapRoot.nrBlocks);
  const onIssue = (area: string) => (i: TreeIssue): void => {
    const device = /^thin device (\d+)/.exec(i.tree);
    fatal(area, `${i.tree}: ${i.message}`, {
      block: i.block,
      device: device ? Number(device[1]) : undefined,
      key: i.path.length > 0 ? i.path[i.path.length - 1] : undefined,
    });
  };
  let issueArea = 'devices';
  const walker = new TreeWalker(reader, metaCounts, (i) => onIssue(issueArea)(i), options.checkUnderfull ?? false);
  metaCounts.inc(0);

  let views: Array<{ sb: Superblock; label: string }> = [{ sb, label: '' }];
  if (sb.heldRoot !== 0) {
    if (sb.heldRoot >= reader.nrBlocks) {
      fatal('superblock', `held metadata snapshot root ${sb.heldRoot} is past the end of the metadata`, { block: 0 });
    } else {
      metaCounts.inc(sb.heldRoot);
      try {
        const snap = validateSuperblock(reader.read(sb.heldRoot), sb.heldRoot);
        views.push({ sb: snap, label: 'metadata snapshot: ' });
      } catch (e) {
        if (!(e instanceof MetadataError)) throw e;
        fatal('superblock', `metadata snapshot: ${e.message}`, { block: sb.heldRoot });
      }
    }
  }
  // Space-map counts only mean something when every tree they count is walked.
  let compareSpaceMaps = true;
  if (options.metadataSnap) {
    if (sb.heldRoot === 0) {
      fatal('superblock', 'no current metadata snapshot (held_root is 0)', { block: 0 });
      return;
    }
    views = views.filter((v) => v.label !== '');
    compareSpaceMaps = false;
    if (views.length === 0) return;
  }
  if (options.overrideMappingRoot !== undefined || options.overrideDetailsRoot !== undefined) {
    views = [{ sb: { ...sb, mappingRoot: options.overrideMappingRoot ?? sb.mappingRoot, detailsRoot: options.overrideDetailsRoot ?? sb.detailsRoot }, label: '' }];
    compareSpaceMaps = false;
  }

  let nrMappings = 0;
  let nrDevices = 0;
  for (const view of views) {
    stage(`examining ${view.label}devices tree`);
    issueArea = 'devices';
    const devices: DeviceEntry[] = [];
    walker.walk(view.sb.detailsRoot, DEVICE_DETAILS_SIZE, `${view.label}device details tree`, (b, _loc, n, max) => {
      for (let i = 0; i < n; i++) {
        devices.push({ devId: keyAt(b, i), ...parseDeviceDetails(b, valueOffset(max, DEVICE_DETAILS_SIZE, i)) });
      }
    });
    if (view.label === '') nrDevices = devices.length;

    stage(`examining ${view.label}mapping tree`);
    issueArea = 'mappings';
    const roots = new Map<number, number>();
    walker.walk(view.sb.mappingRoot, 8, `${view.label}mapping tree top level`, (b, _loc, n, max) => {
      for (let i = 0; i < n; i++) roots.set(keyAt(b, i), getU64(b, valueOffset(max, 8, i)));
    });
    const detailIds = new Set(devices.map((d) => d.devId));
    for (const id of roots.keys()) {
      if (!detailIds.has(id)) {
        fatal('mappings', `${view.label}thin device ${id} has a mapping tree but no entry in the device details tree`, { device: id, block: roots.get(id) });
      }
    }
    for (const d of devices) {
      const root = roots.get(d.devId);
      if (root === undefined) {
        fatal('mappings', `${view.label}thin device ${d.devId} is in the device details tree but the mapping tree's top level (block ${view.sb.mappingRoot}) has no entry for it`, {
          device: d.devId,
          block: view.sb.mappingRoot,
        });
        continue;
      }
      if (options.skipMappings) continue;
      const r = walker.walk(root, 8, `${view.label === '' ? '' : view.label}thin device ${d.devId} mappings`, (b, loc, n, max) => {
        countLeafMappings(b, loc, n, max, dataCounts, d.devId, findings);
      });
      if (view.label === '') nrMappings += r.entries;
      if (r.errors === 0 && r.entries !== d.mappedBlocks) {
        fatal('mappings', `${view.label}thin device ${d.devId} has ${r.entries} mappings but its details say mapped_blocks = ${d.mappedBlocks}`, { device: d.devId, block: root });
      }
    }
  }
  result.nrDevices = nrDevices;
  result.nrMappings = nrMappings;
  if (options.skipMappings || !compareSpaceMaps) return;

  stage('checking space map counts');
  const smProblems: SpaceMapProblem[] = [];
  issueArea = 'data space map';
  const dataSm = readDataSpaceMap(walker, sb.dataSpaceMapRoot);
  countBitmapBlocks(dataSm, metaCounts);
  issueArea = 'metadata space map';
  const metaSm = readMetadataSpaceMap(reader, walker, metaCounts, sb.metadataSpaceMapRoot, smProblems);
  countBitmapBlocks(metaSm, metaCounts);
  for (const p of smProblems) fatal('metadata space map', p.message, { block: p.block });

  const dataCmp = compareCounts(reader, dataSm, dataCounts);
  report('data', dataCmp, findings);
  result.dataBlocksUsed = dataSm.nrBlocks - dataCmp.free;
  result.leakedDataBlocks = dataCmp.leaked;
  const metaCmp = compareCounts(reader, metaSm, metaCounts);
  report('metadata', metaCmp, findings);
  result.metadataFreeBlocks = metaCmp.free;
  result.leakedMetadataBlocks = metaCmp.leaked;
  result.leaks = { data: dataCmp.leakedBlocks, metadata: metaCmp.leakedBlocks };
}

function countLeafMappings(
  b: Uint8Array,
  loc: number,
  n: number,
  max: number,
  dataCounts: RefCounts,
  devId: number,
  findings: Finding[],
): void {
  const base = NODE_HEADER_SIZE + 8 * max;
  const nrData = dataCounts.nrBlocks;
  const counts = dataCounts.bytes;
  // An aligned u32 view of the values: this loop runs for every mapping.
  const w = (b.byteOffset & 3) === 0 ? new Uint32Array(b.buffer, b.byteOffset + base, 2 * n) : undefined;
  for (let i = 0; i < n; i++) {
    const lo = w ? w[2 * i]! : getU32(b, base + 8 * i);
    const hi = w ? w[2 * i + 1]! : getU32(b, base + 8 * i + 4);
    const block = hi * 256 + (lo >>> 24);
    if (block >= nrData) {
      findings.push({
        severity: 'fatal',
        area: 'mappings',
        block: loc,
        device: devId,
        key: keyAt(b, i),
        message: `thin device ${devId} maps virtual block ${keyAt(b, i)} to data block ${block}, past the end of the data device (${nrData} blocks)`,
      });
      continue;
    }
    const c = counts[block]!;
    if (c < 254) counts[block] = c + 1;
    else dataCounts.inc(block);
  }
}

function report(kind: 'data' | 'metadata', cmp: CountComparison, findings: Finding[]): void {
  const area = `${kind} space map`;
  for (const p of cmp.problems) findings.push({ severity: 'fatal', area, block: p.block, message: p.message });
  for (const s of cmp.samples) {
    findings.push({
      severity: 'fatal',
      area,
      message: `${kind} block ${s.block}: reference count on disk ${s.onDisk}, computed ${s.computed}`,
    });
  }
  if (cmp.bad > cmp.samples.length) {
    findings.push({ severity: 'fatal', area, message: `${cmp.bad - cmp.samples.length} more ${kind} blocks have bad reference counts (${cmp.bad} in all)` });
  }
  if (cmp.leaked > 0) {
    findings.push({ severity: 'non-fatal', area, message: `${cmp.leaked} ${kind} blocks have leaked (counted as used on disk, used by nothing)` });
  }
}

/** Field values a superblock at `location` must not have. */
export function superblockFieldProblems(sb: Superblock, fileBlocks: number, location: number): string[] {
  const p: string[] = [];
  const at = `superblock at block ${location}`;
  if (sb.version < 1 || sb.version > 2) p.push(`${at}: unsupported version ${sb.version} (1 and 2 are known)`);
  if (sb.metadataBlockSize !== 8) p.push(`${at}: metadata_block_size is ${sb.metadataBlockSize} sectors, expected 8 (4 KiB)`);
  const dbs = sb.dataBlockSize;
  if (!validDataBlockSize(dbs)) {
    p.push(`${at}: data_block_size ${dbs} sectors is not a multiple of 128 between 128 and 2097152`);
  }
  const msm = sb.metadataSpaceMapRoot;
  if (msm.nrBlocks > MAX_METADATA_BLOCKS) p.push(`${at}: metadata space map covers ${msm.nrBlocks} blocks, more than ${MAX_METADATA_BLOCKS}`);
  for (const [name, v] of [
    ['data mapping root', sb.mappingRoot],
    ['device details root', sb.detailsRoot],
    ['metadata space map index', msm.bitmapRoot],
    ['metadata space map ref-count root', msm.refCountRoot],
    ['data space map index root', sb.dataSpaceMapRoot.bitmapRoot],
    ['data space map ref-count root', sb.dataSpaceMapRoot.refCountRoot],
  ] as const) {
    if (v === 0 || v >= fileBlocks) p.push(`${at}: ${name} ${v} is not a block of the metadata (1..${fileBlocks - 1})`);
  }
  return p;
}
