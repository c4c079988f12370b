/**
 * The VG text for a thin pool whose data was shrunk: the pool's data LV
 * (POOL_tdata) cut to the new number of extents — its last kept segment
 * shortened, the segments past it removed — and the thin-pool LV's own
 * segment given the same count, at seqno + 1. The PV extents freed are
 * simply no longer named by any segment: lvm2 counts a PV's free extents as
 * those no segment takes (lib/metadata/pv_map.c), so nothing else changes.
 *
 * The edit walks LVM's own layout (one statement a line, a section's
 * opening and closing braces on lines of their own) and refuses text it
 * cannot place each change in exactly once. The new text is parsed again
 * and must model the very same VG but for those extents and the seqno, or
 * it is refused (as fix-vg-text.ts does).
 */
import { ArgumentError, UsageError, must } from '../errors.js';
import { ConfigSyntaxError, parseConfigText } from './config-text.js';
import { printable } from './printable.js';
import { type Segment, VgTextError, type VolumeGroup, volumeGroup } from './vg.js';

export interface FreedExtents {
  pv: string;
  /** First PV extent no longer taken, and how many. */
  start: number;
  count: number;
}

export interface PoolTextCut {
  text: string;
  vg: string;
  pool: string;
  dataLv: string;
  seqno: number;
  /** Data LV extents before and after. */
  fromExtents: number;
  toExtents: number;
  /** PV extents the data LV no longer takes. */
  freed: FreedExtents[];
}

interface Section {
  path: string[];
  open: number;
  close: number;
  /** The sections directly inside it, in order. */
  children: Section[];
}

/** Each section of `lines` (its path of names from the top, its opening and closing line), and the lines no brace balances. */
function sectionsOf(lines: readonly string[]): Section[] {
  const out: Section[] = [];
  const stack: Section[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^\s*([^\s{}=#"]+)\s*\{\s*$/.exec(lines[i]);
    if (open) {
      const parent = stack.at(-1);
      const s: Section = { path: [...(parent?.path ?? []), open[1]], open: i, close: -1, children: [] };
      parent?.children.push(s);
      stack.push(s);
      continue;
    }
    if (/^\s*\}\s*$/.test(lines[i])) {
      const s = stack.pop();
      if (!s) throw new UsageError(`the VG text closes a section it never opened at line ${i + 1}: not editing it`);
      s.close = i;
      out.push(s);
    }
  }
  if (stack.length) throw new UsageError(`the VG text leaves section ${printable(stack.at(-1)?.path.join('/') ?? '')} open: not editing it`);
  return out;
}

/** The one line `name = <number>` directly inside `s` (not in a section within it); linear in the section's lines. */
function numberLine(lines: readonly string[], s: Section, name: string): { line: number; value: number } {
  const pattern = new RegExp(`^\\s*${name}\\s*=\\s*\\d+\\s*$`);
  const hits: number[] = [];
  let child = 0;
  for (let i = s.open + 1; i < s.close; i++) {
    const inner = s.children[child];
    if (inner && i === inner.open) {
      i = inner.close;
      child++;
      continue;
    }
    if (pattern.test(lines[i])) hits.push(i);
  }
  if (hits.length !== 1)
    throw new UsageError(`cannot place ${name} of ${printable(s.path.join('/'))} in the VG text (${hits.length} candidate lines): not editing it`);
  return { line: hits[0], value: Number(must(/(\d+)\s*$/.exec(lines[hits[0]]), 'the number')[1]) };
}

function setNumber(lines: string[], at: { line: number }, value: number): void {
  lines[at.line] = lines[at.line].replace(/\d+(\s*)$/, `${value}$1`);
}

function modelOf(text: string, vg: string): VolumeGroup {
  try {
    const s = parseConfigText(text).section(vg);
    if (!s) throw new UsageError(`the VG text has no section ${printable(vg)}`);
    return volumeGroup(s);
  } catch (e) {
    if (e instanceof ConfigSyntaxError || e instanceof VgTextError) throw new UsageError(`the VG text cannot be read: ${e.message}`);
    throw e;
  }
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/** Data blocks in the smallest size that is a whole number both of data blocks (`blockSectors`) and of `extentSectors` extents: every size a pool's data LV may take is a multiple. */
export function extentUnitBlocks(blockSectors: number, extentSectors: number): number {
  return extentSectors / gcd(blockSectors, extentSectors);
}

/**
 * VG `vgName`'s text (`text`, as committed) with pool `pool`'s data cut to
 * `dataBlocks` data blocks. Refused, one line: a size that is not a whole
 * number of extents (the nearest sizes that are, as --size values), not
 * smaller than the pool's, or zero; a pool whose data LV is not on PVs
 * (striped or linear segments) or whose cut would leave a striped segment
 * with unequal stripes.
 */
export function cutPoolData(text: string, vgName: string, pool: string, dataBlocks: number, now = Math.floor(Date.now() / 1000)): PoolTextCut {
  const before = modelOf(text, vgName);
  const poolLv = before.lvs.get(pool);
  if (poolLv?.defect) throw new VgTextError(vgName, poolLv.defect);
  const poolSeg = poolLv?.segments[0];
  if (!poolLv || poolSeg?.type !== 'thin-pool') throw new UsageError(`${printable(vgName)}/${printable(pool)} is not a thin pool`);
  if (poolLv.segments.length !== 1)
    throw new UsageError(`thin pool ${printable(pool)} has ${poolLv.segments.length} segments (lvm2 writes one): not editing it`);
  const dataName = must(poolSeg.dataLv, `${poolSeg.where}'s pool`);
  const dataLv = must(before.lvs.get(dataName), `LV ${dataName}`);
  if (dataLv.defect) throw new VgTextError(vgName, dataLv.defect);
  const other = dataLv.segments.find((g) => g.type !== 'striped' || g.areas.some((a) => a.pv === undefined));
  if (other)
    throw new UsageError(
      `pool ${printable(pool)}'s data LV ${printable(dataName)} has a ${printable(other.type)} segment not on PVs (${other.where}): only linear and striped data LVs are cut`,
    );

  const blockSectors = must(poolSeg.chunkSize, `${poolSeg.where}'s chunk_size`);
  const extentSectors = before.extentSize;
  const fromExtents = dataLv.segments.reduce((n, g) => n + g.extentCount, 0);
  const fromBlocks = Math.floor((fromExtents * extentSectors) / blockSectors);
  if (!Number.isSafeInteger(dataBlocks) || dataBlocks <= 0) throw new ArgumentError(`a pool of ${dataBlocks} data blocks: give a positive whole number`);
  // The smallest size that is both a whole number of data blocks and of extents, in sectors.
  const unit = extentUnitBlocks(blockSectors, extentSectors) * blockSectors;
  const sectors = dataBlocks * blockSectors;
  if (sectors % unit !== 0) {
    const lower = Math.floor(sectors / unit) * unit;
    const sizes = [lower, lower + unit].filter((s) => s > 0).map((s) => sizeWords(s / blockSectors, blockSectors));
    throw new ArgumentError(
      `${dataBlocks} data blocks of ${blockSectors * 512} bytes is not a whole number of VG ${printable(vgName)}'s ${extentSectors * 512}-byte extents: the nearest sizes that are: ${sizes.join(' or ')}`,
    );
  }
  const toExtents = sectors / extentSectors;
  if (toExtents >= fromExtents)
    throw new ArgumentError(
      `pool ${printable(pool)}'s data is ${fromBlocks} data blocks (${fromExtents} extents); ${dataBlocks} is ${toExtents === fromExtents ? 'the same: nothing to cut' : 'larger: this only cuts'}`,
    );

  const lines = text.split('\n');
  const sections = sectionsOf(lines);
  const find = (path: string[]): Section => {
    const hits = sections.filter((s) => s.path.length === path.length && s.path.every((p, i) => p === path[i]));
    if (hits.length !== 1) throw new UsageError(`cannot place section ${printable(path.join('/'))} in the VG text (${hits.length} found): not editing it`);
    return hits[0];
  };
  const vgSection = find([vgName]);
  const dataSection = find([vgName, 'logical_volumes', dataName]);
  const poolSegSection = find([vgName, 'logical_volumes', pool, 'segment1']);
  const segSections = sections.filter(
    (s) => s.path.length === 4 && s.path.slice(0, 3).join('\0') === dataSection.path.join('\0') && /^segment\d+$/.test(s.path[3]),
  );
  const byStart = new Map(dataLv.segments.map((g) => [g.startExtent, g]));
  const freed: FreedExtents[] = [];
  const removed: Section[] = [];
  let kept = 0;
  for (const s of segSections) {
    const start = numberLine(lines, s, 'start_extent').value;
    const count = numberLine(lines, s, 'extent_count');
    const seg = must(byStart.get(start), `the data LV's segment at extent ${start}`);
    const keep = Math.max(0, Math.min(count.value, toExtents - start));
    if (keep === count.value) {
      kept++;
      continue;
    }
    const stripes = seg.areas.length;
    if (keep % stripes !== 0)
      throw new ArgumentError(
        `pool ${printable(pool)}'s data LV ${printable(dataName)} is striped over ${stripes} PVs from its extent ${start}: ${keep} of those extents cannot be split evenly among them; the nearest sizes that can: ${nearestStriped(start, stripes, keep, extentSectors, blockSectors)}`,
      );
    for (const a of seg.areas) freed.push({ pv: must(a.pv, 'a PV area'), start: a.start + keep / stripes, count: (count.value - keep) / stripes });
    if (keep === 0) removed.push(s);
    else {
      setNumber(lines, count, keep);
      kept++;
    }
  }
  const gone = new Set(removed);
  const keptNames = segSections.filter((s) => !gone.has(s)).map((s) => s.path[3]);
  // lvm2 reads the segments by their sections; their names stay segment1..segmentN as it writes them.
  if (keptNames.some((n) => !/^segment[1-9]\d*$/.test(n) || Number(n.slice(7)) > kept))
    throw new UsageError(`the data LV's segments left (${keptNames.join(', ')}) are not segment1 to segment${kept}: not editing the VG text`);
  setNumber(lines, numberLine(lines, dataSection, 'segment_count'), kept);
  setNumber(lines, numberLine(lines, poolSegSection, 'extent_count'), toExtents);
  const seqno = numberLine(lines, vgSection, 'seqno');
  setNumber(lines, seqno, before.seqno + 1);
  // Top-level lines (outside the VG's section): lvm2's description and the time of this version.
  const top = (name: string): number[] =>
    lines.flatMap((l, i) => (new RegExp(`^${name} = `).test(l) && (i < vgSection.open || i > vgSection.close) ? [i] : []));
  const safe = pool.replace(/[^A-Za-z0-9+_.-]/g, '?');
  for (const i of top('description')) lines[i] = `description = "dmthin: pool ${safe}'s data cut to ${toExtents} extents (${dataBlocks} data blocks)"`;
  // lvm2's comment after it gives the old time in words: dropped with it.
  for (const i of top('creation_time')) lines[i] = `creation_time = ${now}`;
  // Removed segments' lines dropped last, in one pass (the line numbers above held until now).
  const dropped = new Uint8Array(lines.length);
  for (const s of removed) dropped.fill(1, s.open, s.close + 1);
  const out = lines.filter((_, i) => dropped[i] === 0).join('\n');

  const after = modelOf(out, vgName);
  const afterData = after.lvs.get(dataName);
  if (afterData?.defect) throw new UsageError(`the cut data LV would not be read: ${afterData.defect}; not writing it`);
  const expected = expectedModel(before, pool, dataName, toExtents);
  if (shape(expected) !== shape(after)) throw new UsageError('the edited VG text models another VG than the one asked for: not writing it');
  return {
    text: out,
    vg: vgName,
    pool,
    dataLv: dataName,
    seqno: after.seqno,
    fromExtents,
    toExtents,
    freed,
  };
}

/** Data block counts near `keep` extents of a segment at `start` whose stripes stay equal. */
function nearestStriped(start: number, stripes: number, keep: number, extentSectors: number, blockSectors: number): string {
  const lower = Math.floor(keep / stripes) * stripes;
  return [lower, lower + stripes]
    .map((k) => ((start + k) * extentSectors) / blockSectors)
    .filter((b) => b > 0 && Number.isInteger(b))
    .map((b) => sizeWords(b, blockSectors))
    .join(' or ');
}

/** A size as the user gives it and as the pool counts it: "--size 4194304 (64 data blocks)". */
function sizeWords(blocks: number, blockSectors: number): string {
  return `--size ${blocks * blockSectors * 512} (${blocks} data blocks)`;
}

/** `vg` with `dataName` cut to `toExtents` and `pool`'s segment as long, at the next seqno. */
function expectedModel(vg: VolumeGroup, pool: string, dataName: string, toExtents: number): VolumeGroup {
  const lvs = new Map(vg.lvs);
  const data = must(vg.lvs.get(dataName), dataName);
  const segments: Segment[] = data.segments
    .filter((g) => g.startExtent < toExtents)
    .map((g) => ({ ...g, extentCount: Math.min(g.extentCount, toExtents - g.startExtent) }));
  lvs.set(dataName, { ...data, segments });
  const p = must(vg.lvs.get(pool), pool);
  lvs.set(pool, { ...p, segments: [{ ...p.segments[0], extentCount: toExtents }] });
  return { ...vg, seqno: vg.seqno + 1, lvs };
}

/** A VG model as JSON, without where each part was read (line numbers move when segments go). */
function shape(vg: VolumeGroup): string {
  return JSON.stringify(vg, (k, v) => {
    if (k === 'where') return undefined;
    if (k === 'defect' && typeof v === 'string') return v.replace(/ \(line \d+\)/g, '');
    return v instanceof Map ? [...v].sort(([a], [b]) => (a < b ? -1 : 1)) : v;
  });
}
