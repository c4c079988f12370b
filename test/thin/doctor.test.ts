/**
 * doctor on a raw pool, on the project's kernel-made fixtures damaged in
 * the test. The truth is taken from the undamaged metadata (the lost
 * leaf's own bytes), from thin_dump 0.9 of the repaired metadata where it
 * is installed, and from the kernel's rules; never from doctor's output.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { treeBlocks } from '../bench/recovery.js';
import { dmthin } from '../support/cli.js';
import { oracle, projectRoot, scratch, tpt09, tpt11, xzDecompress } from '../support/env.js';
import { unpackKernelFixture } from '../support/fixtures.js';
import { patchBlock, readBlock, writeBlock } from '../support/damage.js';
import { BTreeNode } from '../../src/format/btree-node.js';
import { parseSuperblock } from '../../src/format/superblock.js';
import { bitmapEntry, sealBitmap, setBitmapEntry } from '../../src/format/bitmap.js';
import { BlockReader } from '../../src/io/block-reader.js';
import { BTreeTraversal } from '../../src/pdata/btree/traversal.js';
import { readIndex } from '../../src/pdata/space-map/reader.js';
import { must } from '../../src/errors.js';
import { diagnose } from '../../src/thin/doctor/diagnose.js';
import type { DoctorReport } from '../../src/thin/doctor/report.js';
import { filesSource } from '../../src/thin/pool-source.js';
import { Metadata } from '../../src/thin/metadata.js';
import { metadataReserve, metadataSpace } from '../../src/thin/doctor/space.js';

const tmp = scratch();
afterAll(() => tmp.cleanup());

function copyOf(src: string, name: string): string {
  const p = tmp.path(name);
  copyFileSync(src, p);
  return p;
}

function recovery(moment: string): { meta: string; data: string } {
  const meta = tmp.path(`recovery-${moment}.meta`);
  const data = tmp.path(`recovery-${moment}.data`);
  if (!existsSync(meta)) xzDecompress(join(projectRoot, 'fixtures', `recovery-${moment}.meta.xz`), meta);
  if (!existsSync(data)) xzDecompress(join(projectRoot, 'fixtures', `recovery-${moment}.data.xz`), data);
  return { meta, data };
}

/** The mappings a leaf holds, read from its own bytes. */
function leafMappings(path: string, block: number): Map<number, number> {
  const n = new BTreeNode(readBlock(path, block), block);
  const m = new Map<number, number>();
  for (let i = 0; i < n.nrEntries; i++) m.set(n.key(i), n.dataBlock(i));
  return m;
}

/** Every (device, virtual block) -> data block a metadata file maps, from thin_dump 0.9 when there is one. */
function mappingsOf(meta: string): Map<string, number> {
  const xml = tpt09 ? oracle('0.9', 'thin_dump', [meta]).stdout : dmthin('dump', meta).stdout;
  const out = new Map<string, number>();
  let dev = -1;
  for (const line of xml.split('\n')) {
    const d = /<device dev_id="(\d+)"/.exec(line);
    if (d) dev = Number(d[1]);
    const s = /<single_mapping origin_block="(\d+)" data_block="(\d+)"/.exec(line);
    if (s) out.set(`${dev}:${s[1]}`, Number(s[2]));
    const r = /<range_mapping origin_begin="(\d+)" data_begin="(\d+)" length="(\d+)"/.exec(line);
    if (r) for (let i = 0; i < Number(r[3]); i++) out.set(`${dev}:${Number(r[1]) + i}`, Number(r[2]) + i);
  }
  return out;
}

function repaired(meta: string, name: string): string {
  const out = tmp.path(name);
  writeFileSync(out, '');
  truncateSync(out, readFileSync(meta).length);
  const r = dmthin('repair', '-i', meta, '-o', out, '-q');
  expect(r.code, r.stderr).toBe(0);
  return out;
}

function blocksOf(report: DoctorReport, dev: number, bs: number): number[] {
  const d = report.devices.find((x) => x.deviceId === dev);
  const out: number[] = [];
  for (const r of d?.lost ?? []) for (let o = r.offset; o < r.offset + r.length; o += bs) out.push(o / bs);
  return out;
}

/** The data block size in bytes, from the superblock's own bytes. */
function blockBytes(meta: string): number {
  return parseSuperblock(readBlock(meta, 0)).dataBlockSize * 512;
}

/**
 * Gives each lost block of `leaf` (device 1) distinct content: random bytes
 * in the block snapshot device 4 maps at the same virtual block, and the
 * same bytes with their first 4 KiB changed in the block the leaf mapped
 * (a later edit). Returns data block -> the virtual block it belongs at.
 */
function craftRelatives(orig: string, data: string, held: Map<number, number>, after: Map<string, number>): Map<number, number> {
  const bs = blockBytes(orig);
  const before = mappingsOf(orig);
  const fd = openSync(data, 'r+');
  const truth = new Map<number, number>();
  try {
    for (const [k, d] of held) {
      const d4 = before.get(`4:${k}`);
      if (after.has(`1:${k}`) || d4 === undefined || d4 === d) continue;
      const bytes = randomBytes(bs);
      writeSync(fd, bytes, 0, bs, d4 * bs);
      bytes.fill(0x33, 0, 4096);
      bytes.writeUInt32LE(k, 0);
      writeSync(fd, bytes, 0, bs, d * bs);
      truth.set(d, k);
    }
  } finally {
    closeSync(fd);
  }
  return truth;
}

const codes = (r: DoctorReport): string[] => r.problems.map((p) => p.code).sort();

describe('dmthin doctor on a raw pool', () => {
  it('a healthy pool is healthy: no problem, no plan, exit 0', () => {
    const meta = unpackKernelFixture(tmp.dir);
    const r = diagnose(filesSource(meta));
    expect(r.healthy).toBe(true);
    expect(r.problems).toEqual([]);
    expect(r.plan).toEqual([]);
    expect(dmthin('doctor', meta).code).toBe(0);
  });

  it("one overwritten leaf: lost_mappings lose exactly the leaf's mapped blocks that older copies do not give back", () => {
    const meta = copyOf(unpackKernelFixture(tmp.dir), 'leaf.meta');
    const leaves = treeBlocks(meta, 1).leaves;
    // A leaf whose keys run without a gap up to the next leaf's first key: its key range is exactly what it mapped.
    const leaf = leaves.find((b, i) => {
      const keys = [...leafMappings(meta, b).keys()];
      const next = leaves[i + 1] === undefined ? undefined : [...leafMappings(meta, leaves[i + 1]).keys()][0];
      return next !== undefined && keys[keys.length - 1] - keys[0] + 1 === keys.length && next === keys[keys.length - 1] + 1;
    });
    expect(leaf).toBeDefined();
    const held = leafMappings(meta, leaf as number);
    writeBlock(meta, leaf as number, new Uint8Array(4096).fill(0xa5));
    const after = mappingsOf(repaired(meta, 'leaf.repaired'));
    const expected = [...held.keys()].filter((k) => !after.has(`1:${k}`));
    const r = diagnose(filesSource(meta));
    expect(r.healthy).toBe(false);
    const lost = r.problems.find((p) => p.code === 'lost_mappings');
    expect(lost?.severity).toBe('fatal');
    const bs = blockBytes(meta);
    expect(blocksOf(r, 1, bs)).toEqual(expected);
    const dev1 = r.devices.find((d) => d.deviceId === 1);
    expect(dev1?.recoveredFromOlder).toBe(held.size - expected.length);
    expect(dev1?.lostMappedBytes).toBe(expected.length * bs);
    // Knock-on findings are counted under the cause, not listed as problems.
    expect(r.problems.filter((p) => p.code === 'ref-count-mismatch' || p.code === 'leaked-blocks')).toEqual([]);
  });

  it("recovery pool with one leaf overwritten: the candidates are exactly the leaf's data blocks nothing maps after repair; a snapshot's older version places each one where the leaf had it", () => {
    const { meta: orig, data: origData } = recovery('a');
    const meta = copyOf(orig, 'rec-leaf.meta');
    const data = copyOf(origData, 'rec-leaf.data');
    const leaf = treeBlocks(meta, 1).leaves[0];
    const held = leafMappings(meta, leaf);
    writeBlock(meta, leaf, new Uint8Array(4096));
    const after = mappingsOf(repaired(meta, 'rec-leaf.repaired'));
    const mappedData = new Set(after.values());
    const expected = [...new Set(held.values())].filter((d) => !mappedData.has(d)).sort((a, b) => a - b);
    // Without distinct content (the fixture's blocks are one byte repeated) nothing is matched: no evidence, no guess.
    const plain = diagnose(filesSource(meta, data));
    expect(codes(plain)).toEqual(['lost_mappings']);
    expect(plain.candidates.map((c) => c.dataBlock)).toEqual(expected);
    expect(plain.candidates.flatMap((c) => c.matches)).toEqual([]);
    const bs = blockBytes(meta);
    for (const c of plain.candidates) expect(c.offset).toBe(c.dataBlock * bs);
    // Every lost block the leaf mapped (and no repair gave back) is inside the reported ranges.
    const lostBlocks = new Set(blocksOf(plain, 1, bs));
    for (const [k] of held) if (!after.has(`1:${k}`)) expect(lostBlocks.has(k)).toBe(true);
    // The range is a bound (the leaf's keys have gaps); how much of it was written is exact.
    const lostWritten = [...held.keys()].filter((k) => !after.has(`1:${k}`)).length;
    expect(plain.devices.find((d) => d.deviceId === 1)?.lostMappedBytes).toBe(lostWritten * bs);

    const truth = craftRelatives(orig, data, held, after);
    expect(truth.size).toBeGreaterThan(0);
    const r = diagnose(filesSource(meta, data));
    const matches = r.candidates.flatMap((c) => c.matches.map((m) => ({ d: c.dataBlock, ...m })));
    expect(new Map(matches.map((m) => [m.d, m.offset / bs]))).toEqual(truth);
    for (const m of matches) {
      expect(m.deviceId).toBe(1);
      expect(m.evidence).toMatch(/thin device 4 maps at the same virtual block/);
    }
  });

  it('a data block only lost leaves mapped, counted 2+ by the space map: a candidate too, not only the blocks counted once', () => {
    // The kernel-made snapshots pool: blocks its snapshots' diverged leaves both map.
    const orig = tmp.path('snapshots.meta');
    if (!existsSync(orig)) xzDecompress(join(projectRoot, 'fixtures', 'snapshots.meta.xz'), orig);
    const reader = new BlockReader(orig);
    const sb = parseSuperblock(reader.read(0));
    const bitmap = must(readIndex(reader, 'data', sb.dataSpaceMapRoot, new BTreeTraversal(reader)).entries[0], 'the first data bitmap').blocknr;
    const counts = readBlock(orig, bitmap);
    // data block -> every mapping leaf in the file holding it (live or an older copy), from the nodes' own bytes.
    const leavesOf = new Map<number, number[]>();
    for (let b = 1; b < reader.nrBlocks; b++) {
      const n = new BTreeNode(reader.read(b), b);
      if (!n.isLeaf || n.valueSize !== 8 || n.nrEntries === 0 || n.nrEntries > n.maxEntries) continue;
      for (let i = 0; i < n.nrEntries; i++) leavesOf.set(n.dataBlock(i), [...(leavesOf.get(n.dataBlock(i)) ?? []), b]);
    }
    reader.close();
    const shared = [...leavesOf].filter(([d]) => d < 16000 && bitmapEntry(counts, d) >= 2);
    expect(shared.length).toBeGreaterThan(0);
    // Destroy every leaf holding one such block: nothing can give it back.
    for (const [d, leaves] of shared.slice(0, 8)) {
      const meta = copyOf(orig, `twice-${d}.meta`);
      for (const leaf of leaves) writeBlock(meta, leaf, new Uint8Array(4096));
      const after = mappingsOf(repaired(meta, `twice-${d}.repaired`));
      const mapped = new Set(after.values());
      expect(mapped.has(d)).toBe(false);
      // The space map still counts it 2+: check calls it a count mismatch, not a leak.
      const chk = JSON.parse(dmthin('check', meta, '--json').stdout);
      expect(chk.leaks.data).not.toContain(d);
      const r = diagnose(filesSource(meta));
      expect(r.candidates.map((c) => c.dataBlock)).toContain(d);
      // Every candidate is counted used and mapped by nothing after repair.
      for (const c of r.candidates) expect(mapped.has(c.dataBlock)).toBe(false);
    }
  });

  it("an ext4 superblock copy in a candidate, whose UUID the device's primary superblock has, places it at its block group's offset", () => {
    const { meta: orig, data: origData } = recovery('a');
    const meta = copyOf(orig, 'ext4.meta');
    const data = copyOf(origData, 'ext4.data');
    const bs = blockBytes(meta);
    const leaf = treeBlocks(meta, 1).leaves[0];
    const held = leafMappings(meta, leaf);
    writeBlock(meta, leaf, new Uint8Array(4096));
    // The setup needs virtual block 0 readable after repair and a lost block whose data is a candidate (chosen from the undamaged leaf and the repair).
    const after = mappingsOf(repaired(meta, 'ext4.repaired'));
    const primary = must(after.get('1:0'), 'virtual block 0 mapped after repair');
    const mappedData = new Set(after.values());
    const k = must(
      [...held].find(([v, d]) => v > 0 && !after.has(`1:${v}`) && !mappedData.has(d)),
      'a lost block whose data nothing maps',
    )[0];
    const d = must(held.get(k), 'its data block');
    // A filesystem of 4 KiB blocks whose block group 1 starts at virtual block k.
    const perGroup = (k * bs) / 4096;
    const uuid = randomBytes(16);
    const sb = (group: number): Buffer => {
      const b = Buffer.alloc(1024);
      b.writeUInt32LE(0, 0x14); // s_first_data_block
      b.writeUInt32LE(2, 0x18); // s_log_block_size: 4 KiB
      b.writeUInt32LE(perGroup, 0x20); // s_blocks_per_group
      b.writeUInt16LE(0xef53, 0x38);
      b.writeUInt16LE(group, 0x5a); // s_block_group_nr
      uuid.copy(b, 0x68);
      return b;
    };
    const fd = openSync(data, 'r+');
    writeSync(fd, sb(0), 0, 1024, primary * bs + 1024);
    writeSync(fd, sb(1), 0, 1024, d * bs);
    closeSync(fd);
    const r = diagnose(filesSource(meta, data));
    const c = r.candidates.find((x) => x.dataBlock === d);
    expect(c?.matches.map((m) => [m.deviceId, m.offset])).toEqual([[1, k * bs]]);
    expect(c?.matches[0].evidence).toMatch(new RegExp(`ext4 filesystem with UUID ${uuid.toString('hex')}`));
  });

  it('needs_check set: needs_check_flag, and the fix is check --clear-needs-check-flag, not a repair', () => {
    const meta = copyOf(unpackKernelFixture(tmp.dir), 'nc.meta');
    patchBlock(meta, 0, (_b, dv) => dv.setUint32(4, dv.getUint32(4, true) | 1, true), 'superblock');
    const r = diagnose(filesSource(meta));
    expect(codes(r)).toEqual(['needs_check_flag']);
    expect(r.problems[0].severity).toBe('fatal');
    expect(r.plan.some((s) => s.command?.includes('--clear-needs-check-flag'))).toBe(true);
    expect(r.plan.some((s) => s.command?.startsWith('dmthin repair'))).toBe(false);
    expect(dmthin('doctor', meta).code).toBe(1);
  });

  it('a leaked data block alone: leaked_blocks, the block a candidate, saved before the leak is given back', () => {
    const { meta: orig, data } = recovery('a');
    const meta = copyOf(orig, 'leak.meta');
    const sb = parseSuperblock(readBlock(meta, 0));
    const reader = new BlockReader(meta);
    const bitmap = must(readIndex(reader, 'data', sb.dataSpaceMapRoot, new BTreeTraversal(reader)).entries[0], 'the first data bitmap').blocknr;
    reader.close();
    // The last data block is free in this pool: counted used now, it is mapped by nothing (what an aborted commit leaves).
    const leaked = sb.dataSpaceMapRoot.nrBlocks - 1;
    expect(bitmapEntry(readBlock(meta, bitmap), leaked)).toBe(0);
    patchBlock(meta, bitmap, (b) => {
      setBitmapEntry(b, leaked, 1);
      sealBitmap(b);
    });
    const r = diagnose(filesSource(meta, data));
    expect(codes(r)).toEqual(['leaked_blocks']);
    expect(r.problems[0].severity).toBe('non_fatal');
    expect(r.candidates.map((c) => c.dataBlock)).toEqual([leaked]);
    const bs = blockBytes(meta);
    const dd = r.plan.findIndex((s) => s.command?.includes(`dd if=${data} of=data-block-${leaked}.bin bs=${bs} skip=${leaked} count=1`));
    const giveBack = r.plan.findIndex((s) => s.command?.includes('--auto-repair'));
    expect(dd).toBeGreaterThan(0);
    expect(giveBack).toBeGreaterThan(dd);
  });

  it('XML given as metadata: superblock, saying so, and no repair step that would fail', () => {
    const xml = tmp.path('given.xml');
    writeFileSync(xml, dmthin('dump', unpackKernelFixture(tmp.dir)).stdout);
    const r = diagnose(filesSource(xml));
    expect(codes(r)).toEqual(['superblock']);
    expect(r.problems[0].summary).toMatch(/XML/);
    expect(r.plan.some((s) => s.command?.startsWith('dmthin repair'))).toBe(false);
    const kit = tmp.path('xml-kit');
    expect(dmthin('doctor', xml, '-o', kit).code).toBe(1);
    expect(readdirSync(kit).sort()).toEqual(['original-metadata.bin', 'original-metadata.pack', 'plan.txt', 'report.json']);
  });

  it('a torn superblock whose fields hold hides nothing: the lost leaf, its candidates and the leaks beyond are still found', () => {
    const { meta: orig, data } = recovery('a');
    const meta = copyOf(orig, 'torn.meta');
    const leaf = treeBlocks(meta, 1).leaves[0];
    const held = leafMappings(meta, leaf);
    writeBlock(meta, leaf, new Uint8Array(4096));
    const after = mappingsOf(repaired(meta, 'torn.repaired'));
    const mappedData = new Set(after.values());
    const expected = [...new Set(held.values())].filter((d) => !mappedData.has(d)).sort((a, b) => a - b);
    // A flipped bit past the superblock's fields: only its checksum is wrong.
    patchBlock(meta, 0, (b) => {
      b[3000] ^= 0x10;
    });
    const r = diagnose(filesSource(meta, data));
    expect(codes(r)).toEqual(['lost_mappings', 'superblock']);
    expect(r.problems.find((p) => p.code === 'superblock')?.facts?.state).toBe('damaged');
    expect(r.candidates.map((c) => c.dataBlock)).toEqual(expected);
  });

  it('a zeroed superblock: superblock, fatal, saying what survives', () => {
    const meta = copyOf(unpackKernelFixture(tmp.dir), 'sb.meta');
    writeBlock(meta, 0, new Uint8Array(4096));
    const r = diagnose(filesSource(meta));
    const sb = r.problems.find((p) => p.code === 'superblock');
    expect(sb?.severity).toBe('fatal');
    expect(sb?.facts?.state).toBe('lost');
    expect(r.devices.map((d) => d.deviceId).length).toBeGreaterThan(0);
    expect(r.plan.some((s) => s.command?.startsWith('dmthin repair'))).toBe(true);
  });

  it('a zeroed superblock of a pool with deleted devices: the rival generations are named, and --data-block-size lets the kit be built', () => {
    const { meta: orig, data } = recovery('a');
    // Truth: the healthy pool's live ids, and the ids ls --deleted finds deleted.
    const live = Metadata.open(orig);
    const liveIds = live.devices().map((d) => d.devId);
    live.close();
    const meta = copyOf(orig, 'a-sb.meta');
    writeBlock(meta, 0, new Uint8Array(4096));
    const bs = 128;
    const r = diagnose(filesSource(meta, data), { dataBlockSize: bs });
    const sb = must(
      r.problems.find((p) => p.code === 'superblock'),
      'the superblock problem',
    );
    expect(sb.summary).toMatch(/other consistent generations with other devices exist/);
    expect(sb.summary).toContain(`thin ids ${liveIds.join(',')}`);
    expect(r.plan.find((s) => s.command?.startsWith('dmthin repair'))?.command).toMatch(new RegExp(`--data-block-size ${bs}$`));
    const kit = tmp.path('a-sb.kit');
    const k = dmthin('doctor', meta, '--data', data, '--data-block-size', String(bs), '-o', kit);
    expect(k.code, k.stderr).toBe(1);
    expect(existsSync(join(kit, 'repaired.meta'))).toBe(true);
  });

  it('metadata too full for the kernel to commit: metadata_space_exhausted, repaired into a larger device', () => {
    const xml = tmp.path('full.xml');
    writeFileSync(xml, dmthin('dump', unpackKernelFixture(tmp.dir)).stdout);
    const small = (blocks: number, name: string): string => {
      const p = tmp.path(name);
      writeFileSync(p, '');
      truncateSync(p, blocks * 4096);
      const r = dmthin('restore', '-i', xml, '-o', p);
      expect(r.code, r.stderr).toBe(0);
      return p;
    };
    // 36 blocks: the kernel's reserve is 3 (36 / 10), the free blocks few more than that; 64 blocks leave plenty.
    const full = small(36, 'full.meta');
    const r = diagnose(filesSource(full));
    const p = r.problems.find((x) => x.code === 'metadata_space_exhausted');
    expect(p?.severity).toBe('fatal');
    expect(p?.facts?.reserve).toBe(3);
    expect(Number(p?.facts?.growToBytes)).toBeGreaterThan(36 * 4096);
    expect(r.plan.some((s) => s.command?.includes(`truncate -s ${p?.facts?.growToBytes}`))).toBe(true);
    expect(codes(diagnose(filesSource(small(512, 'roomy.meta'))))).toEqual([]);
  });

  it("the kernel's bound: the pool a real kernel filled ran out at 9 of 64 blocks free (reserve 6), and the reserve stops at 4096", () => {
    const m = metadataSpace(64, 9, 4);
    expect(m.reserve).toBe(6);
    expect(m.usable).toBe(3);
    expect(m.exhausted).toBe(true);
    expect(m.growTo).toBeGreaterThan(64);
    expect(metadataSpace(64, 40, 9).exhausted).toBe(false);
    expect(metadataReserve(1_000_000)).toBe(4096);
  });

  it('a data file shorter than nr_data_blocks: data_device_too_small', () => {
    const { meta, data } = recovery('a');
    const short = copyOf(data, 'short.data');
    truncateSync(short, readFileSync(data).length / 2);
    const r = diagnose(filesSource(meta, short));
    expect(codes(r)).toEqual(['data_device_too_small']);
    expect(r.problems[0].severity).toBe('fatal');
  });

  it('nothing is written without -o', () => {
    const { meta, data } = recovery('a');
    const dir = tmp.path('quiet');
    mkdirSync(dir);
    const m = copyOf(meta, 'quiet/m.meta');
    writeBlock(m, treeBlocks(m, 1).leaves[0], new Uint8Array(4096));
    const before = readFileSync(m);
    const r = dmthin('doctor', '--metadata', m, '--data', data, '--json');
    expect(r.code).toBe(1);
    expect(readdirSync(dir)).toEqual(['m.meta']);
    expect(readFileSync(m).equals(before)).toBe(true);
    const j = JSON.parse(r.stdout);
    expect(j.problems[0]).toHaveProperty('severity');
    expect(j.devices[0]).toHaveProperty('mapped_bytes');
    expect(j.devices[0]).toHaveProperty('recovered_from_older');
  });

  it('-o on an existing directory is refused before anything is done, and nothing is touched', () => {
    const meta = unpackKernelFixture(tmp.dir);
    const dir = tmp.path('exists');
    mkdirSync(dir);
    writeFileSync(join(dir, 'keep'), 'x');
    const r = dmthin('doctor', meta, '-o', dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/exists/);
    expect(readdirSync(dir)).toEqual(['keep']);
    expect(readdirSync(tmp.dir).filter((n) => n.includes('partial'))).toEqual([]);
  });

  it('usage: no metadata, or two different ones, exit 2', () => {
    expect(dmthin('doctor').code).toBe(2);
    expect(dmthin('doctor', 'a', '--metadata', 'b').code).toBe(2);
  });
});

describe('the kit (-o DIR)', () => {
  it('every plan copies the original metadata byte for byte first, and each step that writes the original runs only while that copy equals it', () => {
    const { meta: orig, data } = recovery('a');
    const lost = copyOf(orig, 'guard-leaf.meta');
    writeBlock(lost, treeBlocks(lost, 1).leaves[0], new Uint8Array(4096).fill(0xa5));
    const flagged = copyOf(unpackKernelFixture(tmp.dir), 'guard-nc.meta');
    patchBlock(flagged, 0, (_b, dv) => dv.setUint32(4, dv.getUint32(4, true) | 1, true), 'superblock');
    for (const [meta, withData] of [
      [lost, data],
      [flagged, undefined],
    ] as const) {
      const plan = diagnose(filesSource(meta, withData)).plan;
      const copy = `${meta}.before-doctor`;
      expect(plan[0].command?.split('\n')[0]).toBe(`cp --sparse=always ${meta} ${copy}`);
      expect(plan[0].step).toMatch(/byte for byte/);
      // The pack is named for what it is: the blocks that check, the damaged ones lost.
      expect(plan[0].step).toMatch(/pack.*only a compact copy of the metadata blocks that check: the damaged blocks are not in it/);
      const writers = plan
        .flatMap((s) => (s.command ?? '').split('\n'))
        .filter((c) => c.includes(`of=${meta} `) || /--auto-repair|--clear-needs-check-flag/.test(c));
      expect(writers.length).toBeGreaterThan(0);
      for (const w of writers) expect(w).toMatch(new RegExp(`^cmp (-n \\d+ )?${meta} ${copy} && `));
    }
  });

  it('report, plan, the original byte for byte and packed, repaired metadata both thin_checks accept, candidate blocks and inferred exports', () => {
    const { meta: orig, data: origData } = recovery('a');
    const meta = copyOf(orig, 'kit.meta');
    const data = copyOf(origData, 'kit.data');
    const leaf = treeBlocks(meta, 1).leaves[0];
    const held = leafMappings(meta, leaf);
    // Overwritten, not zeroed: the damaged block's bytes must survive somewhere in the kit.
    writeBlock(meta, leaf, new Uint8Array(4096).fill(0xa5));
    const truth = craftRelatives(orig, data, held, mappingsOf(repaired(meta, 'kit.repaired')));
    const before = readFileSync(meta);
    const dir = tmp.path('kit');
    const r = dmthin('doctor', '--metadata', meta, '--data', data, '-o', dir, '--json');
    expect(r.code, r.stderr).toBe(1);
    expect(readFileSync(meta).equals(before)).toBe(true);
    const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8'));
    expect(report.kit.dir).toBe(dir);
    expect(readFileSync(join(dir, 'plan.txt'), 'utf8')).toMatch(/metadata pack/);
    const roles = (role: string): Array<{ path: string; device_id?: number }> => report.kit.files.filter((f: { role: string }) => f.role === role);
    expect(roles('original_metadata_pack')).toHaveLength(1);
    // The byte-for-byte copy keeps the damaged leaf; the pack keeps only blocks that check, so it unpacks that leaf as zeros.
    expect(roles('original_metadata').map((f) => f.path)).toEqual(['original-metadata.bin']);
    expect(readFileSync(join(dir, 'original-metadata.bin')).equals(before)).toBe(true);
    const fromPack = tmp.path('kit-from-pack.meta');
    expect(dmthin('metadata', 'unpack', '-i', join(dir, 'original-metadata.pack'), '-o', fromPack).code).toBe(0);
    expect(readBlock(fromPack, leaf)).toEqual(new Uint8Array(4096));
    expect(readBlock(fromPack, 0)).toEqual(readBlock(meta, 0));
    const rep = join(dir, roles('repaired_metadata')[0].path);
    if (tpt09) expect(oracle('0.9', 'thin_check', [rep]).code).toBe(0);
    if (tpt11) expect(oracle('1.1', 'thin_check', [rep]).code).toBe(0);
    if (tpt11) {
      const unpacked = tmp.path('kit-unpacked.meta');
      expect(oracle('1.1', 'thin_metadata_unpack', ['-i', join(dir, roles('original_metadata_pack')[0].path), '-o', unpacked]).code).toBe(0);
      // Every block with a valid checksum comes back as it was; the overwritten leaf has none and comes back zero.
      expect(readBlock(unpacked, 0)).toEqual(readBlock(meta, 0));
      expect(readBlock(unpacked, leaf)).toEqual(new Uint8Array(4096));
    }
    const bs = 65536;
    const dataBytes = readFileSync(data);
    expect(roles('candidate_block')).toHaveLength(report.candidates.length);
    for (const c of report.candidates) {
      const f = readFileSync(join(dir, `candidates/data-block-${c.data_block}.bin`));
      expect(f.equals(dataBytes.subarray(c.data_block * bs, (c.data_block + 1) * bs))).toBe(true);
    }
    const exports = roles('inferred_export');
    expect(exports.map((e) => e.device_id)).toEqual([1]);
    const img = readFileSync(join(dir, exports[0].path));
    expect(exports[0].path).toMatch(/INFERRED/);
    // Each placed block is the candidate the leaf really held there.
    let placed = 0;
    for (const c of report.candidates) {
      for (const m of c.matches) {
        placed++;
        expect(truth.get(c.data_block)).toBe(m.offset / bs);
        expect(img.subarray(m.offset, m.offset + bs).equals(dataBytes.subarray(c.data_block * bs, (c.data_block + 1) * bs))).toBe(true);
      }
    }
    expect(placed).toBe(truth.size);
  });

  it('exhausted metadata: the kit repairs it into a larger device both thin_checks accept', () => {
    const xml = tmp.path('kfull.xml');
    writeFileSync(xml, dmthin('dump', unpackKernelFixture(tmp.dir)).stdout);
    const p = tmp.path('kfull.meta');
    writeFileSync(p, '');
    truncateSync(p, 36 * 4096);
    expect(dmthin('restore', '-i', xml, '-o', p).code).toBe(0);
    const dir = tmp.path('kfull-kit');
    expect(dmthin('doctor', p, '-o', dir).code).toBe(1);
    const rep = join(dir, 'repaired.meta');
    expect(readFileSync(rep).length).toBeGreaterThan(36 * 4096);
    if (tpt09) expect(oracle('0.9', 'thin_check', [rep]).code).toBe(0);
    if (tpt11) expect(oracle('1.1', 'thin_check', [rep]).code).toBe(0);
    expect(codes(diagnose(filesSource(rep)))).toEqual([]);
  });
});
