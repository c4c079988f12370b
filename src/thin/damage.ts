/**
 * Nothing degrades silently (issue 23): what a reader of pool metadata
 * does when the metadata is damaged.
 *
 * - scanDamage walks every tree a listing or a read command may reach
 *   (the top level, the details tree, each device's mappings, both space
 *   maps' indexes, ref-count trees and bitmaps), tolerantly, and says what
 *   it could not read: a listing (`lvm ls`) reports it as a problem rather
 *   than list the pool as healthy. It judges each node (checksum, header,
 *   key order) but counts no references: the structure, not check's
 *   arithmetic. On the bench's 10 M mapping pool it costs about a quarter
 *   of a second, a third of a full check.
 * - DamagedMetadataError is the one line a command that reads the trees
 *   whole fails with: the pool, the block, what was expected, and the
 *   command that says what is lost and what to do (the doctor of the
 *   pool's kind).
 * - validateTrees is the cheap first pass of the streamed outputs (dump,
 *   delta to standard output): the trees are judged before the first byte
 *   is printed, so that a damaged pool never leaves half a document.
 */
import { nrBitmaps } from '../format/bitmap.js';
import { MetadataError } from '../format/errors.js';
import { BTreeTraversal } from '../pdata/btree/traversal.js';
import { type KeyRange, type TreeId, type TreeProblem, rangeText, treeName } from '../pdata/btree/problem.js';
import { readBitmap, readIndex, type SpaceMapIndex } from '../pdata/space-map/reader.js';
import { DEVICE_DETAILS_SIZE } from '../format/device-details.js';
import type { Metadata } from './metadata.js';
import type { PoolSource } from './pool-source.js';

/** One unreadable node or block: where, in which structure, what is wrong, and the keys it costs. */
export interface Damage {
  block: number;
  /** The structure, as messages name it ("thin device 1 mappings", "data space map bitmap 0"). */
  where: string;
  /** What was expected and found ("bad btree node checksum: stored ..., computed ..."). */
  detail: string;
  tree?: TreeId;
  /** The keys it costs (virtual blocks of a mapping tree, device ids, data or metadata blocks). */
  range?: KeyRange;
}

/** Damage found by a walk, the first `limit` kept and all counted. */
export interface DamageScan {
  damage: Damage[];
  total: number;
}

/** Damage from a tree problem. */
export function treeDamage(p: TreeProblem): Damage {
  return { block: p.block, where: treeName(p.tree), detail: p.detail, tree: p.tree, range: p.range };
}

/** "block 86 (thin device 1 mappings, keys 0..33): bad btree node checksum: ..." */
export function damageText(d: Damage): string {
  return `block ${d.block} (${d.where}${d.range ? `, keys ${rangeText(d.range)}` : ''}): ${d.detail}`;
}

/** The first damage and how much more: one line. */
export function damageSummary(s: DamageScan): string {
  const first = s.damage[0];
  if (!first) return 'no damage';
  const more = s.total - 1;
  return `${damageText(first)}${more ? `; and ${more} more damaged block${more > 1 ? 's' : ''}` : ''}`;
}

/**
 * Walks every tree of the metadata's view tolerantly and returns what it
 * could not read (the first `limit`, all counted). Throws nothing for
 * damage below the superblock; the superblock itself was judged when the
 * metadata was opened.
 */
export function scanDamage(md: Metadata, limit = 16): DamageScan {
  const scan: DamageScan = { damage: [], total: 0 };
  const add = (d: Damage): void => {
    scan.total++;
    if (scan.damage.length < limit) scan.damage.push(d);
  };
  const onProblem = (p: TreeProblem): void => add(treeDamage(p));
  const snapshot = md.viewLocation !== 0;
  // Shared subtrees (snapshots) are judged once.
  const t = new BTreeTraversal(md.reader, { once: true });
  const roots: Array<[number, number]> = [];
  t.walk(md.view.mappingRoot, {
    valueSize: 8,
    tree: { kind: 'top-level', snapshot },
    onLeaf: (node) => {
      for (let i = 0; i < node.nrEntries; i++) roots.push([node.key(i), node.u64(i)]);
    },
    onProblem,
  });
  t.walk(md.view.detailsRoot, { valueSize: DEVICE_DETAILS_SIZE, tree: { kind: 'details', snapshot }, onProblem });
  for (const [devId, root] of roots) t.walk(root, { valueSize: 8, tree: { kind: 'mappings', devId, snapshot }, onProblem });
  // The space maps are the live superblock's (a metadata snapshot has none of its own).
  const sb = md.superblock;
  for (const [kind, root] of [
    ['data', sb.dataSpaceMapRoot],
    ['metadata', sb.metadataSpaceMapRoot],
  ] as const) {
    const index = readIndex(md.reader, kind, root, t, onProblem);
    if (index.indexError) add({ block: index.indexError.block, where: `${kind} space map index`, detail: index.indexError.detail });
    // Judged, not collected: a pool with many snapshots holds millions of counts there.
    t.walk(root.refCountRoot, { valueSize: 4, tree: { kind: kind === 'data' ? 'data-ref-counts' : 'metadata-ref-counts' }, onProblem });
    scanBitmaps(md, index, add);
  }
  return scan;
}

function scanBitmaps(md: Metadata, index: SpaceMapIndex, add: (d: Damage) => void): void {
  const n = nrBitmaps(index.nrBlocks);
  for (let bi = 0; bi < n; bi++) {
    // An entry the index could not give was reported with the index.
    if (!index.entries[bi]) continue;
    try {
      readBitmap(md.reader, index, bi);
    } catch (e) {
      if (!(e instanceof MetadataError)) throw e;
      add({ block: e.block, where: `${index.kind} space map bitmap ${bi}`, detail: e.detail });
    }
  }
}

/**
 * Judges, before anything is printed, the trees a streamed output will
 * read whole: the top level, the details tree and the mapping trees of
 * `devIds` (all when absent). Throws the first damage as a MetadataError
 * naming its tree; the caller's DamagedMetadataError adds the way on.
 * Returns the traversal, which remembers each node's verdict: the output's
 * own walk through it reads no checksum again, so a healthy pool pays one
 * more read of each node, not a second judgement.
 */
export function validateTrees(md: Metadata, devIds?: readonly number[]): BTreeTraversal {
  const snapshot = md.viewLocation !== 0;
  const t = new BTreeTraversal(md.reader, { remember: true });
  const strict = (p: TreeProblem): void => {
    throw new MetadataError(p.block, `${treeName(p.tree)}, keys ${rangeText(p.range)}: ${p.detail}`);
  };
  const roots: Array<[number, number]> = [];
  t.walk(md.view.mappingRoot, {
    valueSize: 8,
    tree: { kind: 'top-level', snapshot },
    onLeaf: (node) => {
      for (let i = 0; i < node.nrEntries; i++) roots.push([node.key(i), node.u64(i)]);
    },
    onProblem: strict,
  });
  t.walk(md.view.detailsRoot, { valueSize: DEVICE_DETAILS_SIZE, tree: { kind: 'details', snapshot }, onProblem: strict });
  const wanted = devIds ? new Set(devIds) : undefined;
  for (const [devId, root] of roots) {
    if (!wanted || wanted.has(devId)) t.walk(root, { valueSize: 8, tree: { kind: 'mappings', devId, snapshot }, onProblem: strict });
  }
  return t;
}

/** The command that says, for this pool, what is lost and what to do next. */
export function doctorCommand(source: PoolSource): string {
  if (source.doctorCommand) return source.doctorCommand;
  const md = typeof source.metadata === 'string' ? source.metadata : source.metadata.name;
  return `dmthin doctor --metadata ${md}${typeof source.data === 'string' ? ` --data ${source.data}` : ''}`;
}

/**
 * Damaged metadata met by a command that must read it whole: one line with
 * the pool, the block and what was wrong there (the cause's own words),
 * and the command to run instead.
 */
export class DamagedMetadataError extends MetadataError {
  constructor(
    readonly pool: string,
    readonly found: MetadataError,
    readonly doctor: string,
  ) {
    super(found.block, `${found.detail}; pool ${pool}'s metadata is damaged: run ${doctor} to see what is lost and what to do next`);
  }
}

/** Runs `body`; damaged metadata it meets becomes one DamagedMetadataError naming `source`'s doctor. */
export function withDamageAdvice<T>(source: PoolSource, body: () => T): T {
  return withDoctorAdvice(source.name, doctorCommand(source), body);
}

/** As withDamageAdvice, for a pool known by name (`VG/POOL`) and its doctor command. */
export function withDoctorAdvice<T>(pool: string, doctor: string, body: () => T): T {
  try {
    return body();
  } catch (e) {
    throw adviseDamage(pool, doctor, e);
  }
}

/** As withDamageAdvice, for a body that awaits. */
export async function withDamageAdviceAsync<T>(source: PoolSource, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (e) {
    throw adviseDamage(source.name, doctorCommand(source), e);
  }
}

/** `e` with the way on, when it is damaged metadata not yet advised. */
export function adviseDamage(pool: string, doctor: string, e: unknown): unknown {
  if (!(e instanceof MetadataError) || e instanceof DamagedMetadataError) return e;
  return new DamagedMetadataError(pool, e, doctor);
}
