/**
 * Checks pool metadata the way thin_check does: the superblock, the device
 * details tree, every mapping tree (and the held metadata snapshot's),
 * then both space maps against counts computed from the trees.
 *
 * Findings are data (severity, block, device, key, message), never
 * exceptions: a damaged file yields a report, not a crash.
 */
import { BLOCK_SIZE } from '../../format/checksum.js';
import { BlockReader } from '../../io/block-reader.js';
import type { ByteSource } from '../../io/byte-source.js';
import type { BTreeNode } from '../../format/btree-node.js';
import { DEVICE_DETAILS_SIZE, type DeviceDetails, parseDeviceDetails } from '../../format/device-details.js';
import { MetadataError } from '../../format/errors.js';
import { MAX_METADATA_BLOCKS } from '../../format/index-entry.js';
import { NEEDS_CHECK_FLAG, validDataBlockSize, type Superblock, validateSuperblock } from '../../format/superblock.js';
import { TREE_PROBLEM_CODES, type TreeId, type TreeProblem, treeName } from '../../pdata/btree/problem.js';
import { BTreeTraversal } from '../../pdata/btree/traversal.js';
import { RefCounts } from '../../pdata/ref-counts.js';
import { type CountComparison, type SpaceMapProblem, compareCounts, countBitmapBlocks, readSpaceMap } from '../../pdata/space-map/compare.js';

/** fatal and non-fatal fail a check (as in thin_check); a note informs and changes no verdict. */
export type Severity = 'fatal' | 'non-fatal' | 'note';

/**
 * What kind of finding, stable for scripts (`check --json`); docs/check.md
 * lists them. Tree problems carry their tree code (pdata/btree/problem.ts).
 */
export const FINDING_CODES = [
  ...TREE_PROBLEM_CODES,
  'input',
  'superblock',
  'superblock-field',
  'metadata-short',
  'metadata-snapshot',
  'device-without-details',
  'device-without-mappings',
  'mapped-blocks-mismatch',
  'data-block-past-end',
  'space-map-index',
  'bitmap',
  'ref-count-mismatch',
  'leaked-blocks',
] as const;
export type FindingCode = (typeof FINDING_CODES)[number];

export interface Finding {
  severity: Severity;
  code: FindingCode;
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
  /** Data blocks counted used (any count) that no mapping found uses: the leaks and blocks only lost nodes shared. */
  unusedData?: number[];
  /** Blocks whose on-disk count differs from the computed one other than as a leak, by space map (findings list only the first). */
  badCounts?: { data: number; metadata: number };
  /** The superblock's NEEDS_CHECK flag. */
  needsCheck?: boolean;
}

interface DeviceEntry extends DeviceDetails {
  devId: number;
}

/** Checks the metadata in a file or device (`path`), or in any ByteSource (an LV inside disk images). */
export function check(path: string | ByteSource, options: CheckOptions = {}): CheckResult {
  let reader: BlockReader;
  try {
    reader = new BlockReader(path);
  } catch (e) {
    return unreadable(e as Error);
  }
  try {
    return checkBlocks(reader, options).result;
  } finally {
    reader.close();
  }
}

/** The result of a check whose input could not be opened: one fatal finding saying why. */
export function unreadable(e: Error): CheckResult {
  return { ok: false, findings: [{ severity: 'fatal', code: 'input', area: 'input', message: e.message }] };
}

/**
 * Checks the metadata `reader` reads (left open: a caller that checks and
 * then writes keeps one handle); also gives the superblock validated at
 * block 0, when it was, so that the caller's writes need not read and
 * validate it again.
 */
export function checkBlocks(reader: BlockReader, options: CheckOptions = {}): { result: CheckResult; superblock?: Superblock } {
  const result: CheckResult = { ok: false, findings: [] };
  const seen: { sb?: Superblock } = {};
  runCheck(reader, options, result, seen);
  result.ok = !result.findings.some((f) => f.severity === 'fatal');
  return { result, superblock: seen.sb };
}

function runCheck(reader: BlockReader, options: CheckOptions, result: CheckResult, seen: { sb?: Superblock }): void {
  const findings = result.findings;
  const fatal = (code: FindingCode, area: string, message: string, extra: Partial<Finding> = {}): void => {
    findings.push({ severity: 'fatal', code, area, message, ...extra });
  };
  const stage = options.onStage ?? ((): void => {});

  stage('examining superblock');
  if (reader.nrBlocks === 0) {
    // Not damaged metadata but no metadata at all (an empty or a text file): repair has nothing to work from, so no repair advice.
    const what = reader.size === 0 ? 'is empty' : `is ${reader.size} bytes, less than one ${BLOCK_SIZE}-byte metadata block`;
    fatal('input', 'input', `${reader.path} ${what}: no superblock at block 0, so it is not pool metadata (is it the right file or device?)`, { block: 0 });
    return;
  }
  let sb: Superblock;
  try {
    sb = validateSuperblock(reader.read(0), 0);
  } catch (e) {
    if (!(e instanceof MetadataError)) throw e;
    const head = Buffer.from(reader.read(0).subarray(0, 64)).toString('latin1');
    const hint = /^\s*(<\?xml|<superblock)/.test(head)
      ? ' (this looks like XML from thin_dump: check takes binary metadata; restore it first with dmthin restore)'
      : '';
    fatal('superblock', 'superblock', `${e.detail}${hint}`, { block: 0 });
    return;
  }
  seen.sb = sb;
  result.transactionId = sb.transactionId;
  result.needsCheck = (sb.flags & NEEDS_CHECK_FLAG) !== 0;
  const fieldProblems = superblockFieldProblems(sb, reader.nrBlocks, 0);
  for (const p of fieldProblems) fatal('superblock-field', 'superblock', p, { block: 0 });
  if (fieldProblems.length > 0 || options.superBlockOnly) return;
  // A device shorter than the superblock says loses nothing by itself (a block
  // in use past its end fails the walk below), and thin_check 1.x passes it;
  // but the kernel will not load the pool (dm-thin.c maybe_resize_metadata_dev:
  // "metadata device too small"). A note says so without failing the check.
  const declared = sb.metadataSpaceMapRoot.nrBlocks;
  if (declared > reader.nrBlocks) {
    findings.push({
      severity: 'note',
      code: 'metadata-short',
      area: 'superblock',
      block: 0,
      message: `the metadata has ${reader.nrBlocks} blocks but its superblock says ${declared}: the kernel will not activate the pool until the device is ${declared * 8} sectors (${declared * 4} KiB) again`,
    });
  }

  const metaCounts = new RefCounts(Math.max(reader.nrBlocks, declared));
  const dataCounts = new RefCounts(sb.dataSpaceMapRoot.nrBlocks);
  const onProblem = (p: TreeProblem): void => {
    fatal(p.code, AREA[p.tree.kind], `${treeName(p.tree)}: ${p.detail}`, {
      block: p.block,
      device: p.tree.devId,
      key: p.path.length > 0 ? p.path[p.path.length - 1] : undefined,
    });
  };
  // Every node judged once however many trees share it, every reference counted.
  const walker = new BTreeTraversal(reader, { once: true, keepGoing: true, counts: metaCounts, underfull: options.checkUnderfull ?? false });
  const walk = (root: number, valueSize: number, tree: TreeId, onLeaf: (node: BTreeNode) => void) => walker.walk(root, { valueSize, tree, onLeaf, onProblem });
  metaCounts.inc(0);

  let views: Array<{ sb: Superblock; label: string }> = [{ sb, label: '' }];
  if (sb.heldRoot !== 0) {
    if (sb.heldRoot >= reader.nrBlocks) {
      fatal('metadata-snapshot', 'superblock', `held metadata snapshot root ${sb.heldRoot} is past the end of the metadata`, { block: 0 });
    } else {
      metaCounts.inc(sb.heldRoot);
      try {
        const snap = validateSuperblock(reader.read(sb.heldRoot), sb.heldRoot);
        views.push({ sb: snap, label: 'metadata snapshot: ' });
      } catch (e) {
        if (!(e instanceof MetadataError)) throw e;
        fatal('metadata-snapshot', 'superblock', `metadata snapshot: ${e.detail}`, { block: sb.heldRoot });
      }
    }
  }
  // Space-map counts only mean something when every tree they count is walked.
  let compareSpaceMaps = true;
  if (options.metadataSnap) {
    if (sb.heldRoot === 0) {
      fatal('metadata-snapshot', 'superblock', 'no current metadata snapshot (held_root is 0)', { block: 0 });
      return;
    }
    views = views.filter((v) => v.label !== '');
    compareSpaceMaps = false;
    if (views.length === 0) return;
  }
  if (options.overrideMappingRoot !== undefined || options.overrideDetailsRoot !== undefined) {
    views = [
      { sb: { ...sb, mappingRoot: options.overrideMappingRoot ?? sb.mappingRoot, detailsRoot: options.overrideDetailsRoot ?? sb.detailsRoot }, label: '' },
    ];
    compareSpaceMaps = false;
  }

  let nrMappings = 0;
  let nrDevices = 0;
  for (const view of views) {
    const snapshot = view.label !== '';
    stage(`examining ${view.label}devices tree`);
    const devices: DeviceEntry[] = [];
    walk(view.sb.detailsRoot, DEVICE_DETAILS_SIZE, { kind: 'details', snapshot }, (node) => {
      for (let i = 0; i < node.nrEntries; i++) {
        devices.push({ devId: node.key(i), ...parseDeviceDetails(node.bytes, node.valueOffset(i)) });
      }
    });
    if (view.label === '') nrDevices = devices.length;

    stage(`examining ${view.label}mapping tree`);
    const roots = new Map<number, number>();
    walk(view.sb.mappingRoot, 8, { kind: 'top-level', snapshot }, (node) => {
      for (let i = 0; i < node.nrEntries; i++) roots.set(node.key(i), node.u64(i));
    });
    const detailIds = new Set(devices.map((d) => d.devId));
    for (const id of roots.keys()) {
      if (!detailIds.has(id)) {
        fatal('device-without-details', 'mappings', `${view.label}thin device ${id} has a mapping tree but no entry in the device details tree`, {
          device: id,
          block: roots.get(id),
        });
      }
    }
    for (const d of devices) {
      const root = roots.get(d.devId);
      if (root === undefined) {
        fatal(
          'device-without-mappings',
          'mappings',
          `${view.label}thin device ${d.devId} is in the device details tree but the mapping tree's top level (block ${view.sb.mappingRoot}) has no entry for it`,
          {
            device: d.devId,
            block: view.sb.mappingRoot,
          },
        );
        continue;
      }
      if (options.skipMappings) continue;
      const r = walk(root, 8, { kind: 'mappings', devId: d.devId, snapshot }, (node) => countLeafMappings(node, dataCounts, d.devId, findings));
      if (view.label === '') nrMappings += r.entries;
      if (r.errors === 0 && r.entries !== d.mappedBlocks) {
        fatal(
          'mapped-blocks-mismatch',
          'mappings',
          `${view.label}thin device ${d.devId} has ${r.entries} mappings but its details say mapped_blocks = ${d.mappedBlocks}`,
          { device: d.devId, block: root },
        );
      }
    }
  }
  result.nrDevices = nrDevices;
  result.nrMappings = nrMappings;
  if (options.skipMappings || !compareSpaceMaps) return;

  stage('checking space map counts');
  const smProblems: SpaceMapProblem[] = [];
  const dataSm = readSpaceMap(reader, 'data', sb.dataSpaceMapRoot, walker, metaCounts, onProblem, smProblems);
  countBitmapBlocks(dataSm, metaCounts);
  const metaSm = readSpaceMap(reader, 'metadata', sb.metadataSpaceMapRoot, walker, metaCounts, onProblem, smProblems);
  countBitmapBlocks(metaSm, metaCounts);
  for (const p of smProblems) fatal('space-map-index', 'metadata space map', p.message, { block: p.block });

  const dataCmp = compareCounts(reader, dataSm, dataCounts);
  report('data', dataCmp, findings);
  result.dataBlocksUsed = dataSm.nrBlocks - dataCmp.free;
  result.leakedDataBlocks = dataCmp.leaked;
  const metaCmp = compareCounts(reader, metaSm, metaCounts);
  report('metadata', metaCmp, findings);
  result.metadataFreeBlocks = metaCmp.free;
  result.leakedMetadataBlocks = metaCmp.leaked;
  result.leaks = { data: dataCmp.leakedBlocks, metadata: metaCmp.leakedBlocks };
  result.unusedData = dataCmp.unusedBlocks;
  result.badCounts = { data: dataCmp.bad, metadata: metaCmp.bad };
}

/** Counts a mapping leaf's data blocks; this loop runs for every mapping. */
function countLeafMappings(node: BTreeNode, dataCounts: RefCounts, devId: number, findings: Finding[]): void {
  const n = node.nrEntries;
  const nrData = dataCounts.nrBlocks;
  const counts = dataCounts.bytes;
  for (let i = 0; i < n; i++) {
    const block = node.dataBlock(i);
    if (block >= nrData) {
      findings.push({
        severity: 'fatal',
        code: 'data-block-past-end',
        area: 'mappings',
        block: node.location,
        device: devId,
        key: node.key(i),
        message: `thin device ${devId} maps virtual block ${node.key(i)} to data block ${block}, past the end of the data device (${nrData} blocks)`,
      });
      continue;
    }
    const c = counts[block];
    if (c < 254) counts[block] = c + 1;
    else dataCounts.inc(block);
  }
}

/** One line: what, then where ([block, thin device, key] from the finding's fields). */
export function describeFinding(f: Finding): string {
  const where: string[] = [];
  if (f.block !== undefined) where.push(`block ${f.block}`);
  if (f.device !== undefined) where.push(`thin device ${f.device}`);
  if (f.key !== undefined) where.push(`key ${f.key}`);
  return `${f.message}${where.length ? ` [${where.join(', ')}]` : ''}`;
}

/** Which part of the metadata a tree's findings belong to. */
const AREA: Record<TreeId['kind'], string> = {
  details: 'devices',
  'top-level': 'mappings',
  mappings: 'mappings',
  'data-index': 'data space map',
  'data-ref-counts': 'data space map',
  'metadata-ref-counts': 'metadata space map',
};

function report(kind: 'data' | 'metadata', cmp: CountComparison, findings: Finding[]): void {
  const area = `${kind} space map`;
  for (const p of cmp.problems) findings.push({ severity: 'fatal', code: 'bitmap', area, block: p.block, message: p.message });
  for (const s of cmp.samples) {
    findings.push({
      severity: 'fatal',
      code: 'ref-count-mismatch',
      area,
      message: `${kind} block ${s.block}: reference count on disk ${s.onDisk}, computed ${s.computed}`,
    });
  }
  if (cmp.bad > cmp.samples.length) {
    findings.push({
      severity: 'fatal',
      code: 'ref-count-mismatch',
      area,
      message: `${cmp.bad - cmp.samples.length} more ${kind} blocks have bad reference counts (${cmp.bad} in all)`,
    });
  }
  if (cmp.leaked > 0) {
    findings.push({
      severity: 'non-fatal',
      code: 'leaked-blocks',
      area,
      message: `${cmp.leaked} ${kind} blocks have leaked (counted as used on disk, used by nothing)`,
    });
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
