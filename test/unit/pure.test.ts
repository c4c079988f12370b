/**
 * The pure functions that otherwise only run inside larger tests: status
 * and size parsers, the node accessor, the tree builder and the traversal
 * on trees built here, key by key. Expectations come from the formats'
 * definitions (kernel docs, dm-btree layout), not from dmthin's output.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { BLOCK_SIZE } from '../../src/format/checksum.js';
import { BTreeNode, LEAF_NODE, maxEntriesFor, newNode, sealNode, setKeyAt, valueOffset } from '../../src/format/btree-node.js';
import { blockOf, highHalf, lowHalf, timeOf, writeBlockTime } from '../../src/format/block-time.js';
import { ChecksumError } from '../../src/format/errors.js';
import { setU32, setU64 } from '../../src/format/le.js';
import { humanSize, parseBytes, parseCount, parseSectors, parseU64 } from '../../src/format/units.js';
import { ArgumentError } from '../../src/errors.js';
import { BlockReader } from '../../src/io/block-reader.js';
import { BTreeBuilder, chunkSizes, type NodeSink } from '../../src/pdata/btree/builder.js';
import { LeafCursor } from '../../src/pdata/btree/cursor.js';
import { type TreeProblem, rangeText, treeName } from '../../src/pdata/btree/problem.js';
import { BTreeTraversal, forEachLeaf, highestKey } from '../../src/pdata/btree/traversal.js';
import { RefCounts } from '../../src/pdata/ref-counts.js';
import { StatusError, parsePoolStatus, parseThinStatus } from '../../src/driver/status.js';
import { lvmDmName, runningPool } from '../../src/lvm/running.js';
import { scratch } from '../support/env.js';
import { must } from '../../src/errors.js';

const tmp = scratch();
afterAll(() => tmp.cleanup());

describe('status lines (Documentation/admin-guide/device-mapper/thin-provisioning.rst)', () => {
  it('reads a healthy pool, a read-only one with a held root, and a failed one', () => {
    const rw = parsePoolStatus('0 2097152 thin-pool 7 155/4096 33/16384 - rw discard_passdown queue_if_no_space - 1024');
    expect(rw).toMatchObject({
      length: 2097152,
      mode: 'rw',
      transactionId: 7,
      usedMetadataBlocks: 155,
      totalMetadataBlocks: 4096,
      usedDataBlocks: 33,
      totalDataBlocks: 16384,
      heldMetadataRoot: undefined,
      discardPassdown: true,
      errorIfNoSpace: false,
      needsCheck: false,
      metadataLowWatermark: 1024,
    });
    const ro = parsePoolStatus('0 1024 thin-pool 3 9/1024 0/512 412 ro no_discard_passdown error_if_no_space needs_check');
    expect(ro).toMatchObject({
      mode: 'ro',
      heldMetadataRoot: 412,
      discardPassdown: false,
      errorIfNoSpace: true,
      needsCheck: true,
      metadataLowWatermark: undefined,
    });
    expect(parsePoolStatus('0 1024 thin-pool Fail')).toMatchObject({ mode: 'fail', length: 1024, needsCheck: true });
  });

  it('reads thin lines: mapped, nothing mapped, failed', () => {
    expect(parseThinStatus('0 204800 thin 1024 204799')).toMatchObject({ length: 204800, failed: false, mappedSectors: 1024, highestMappedSector: 204799 });
    expect(parseThinStatus('0 204800 thin 0 -')).toMatchObject({ mappedSectors: 0, highestMappedSector: undefined });
    expect(parseThinStatus('0 204800 thin Fail')).toMatchObject({ failed: true });
  });

  it('refuses what is not a status line, naming the field, rather than returning NaN', () => {
    expect(() => parsePoolStatus('0 1024 linear 8:1 0')).toThrow(StatusError);
    expect(() => parsePoolStatus('0 1024 thin-pool Error')).toThrow(/transaction id 'Error' is not a number/);
    expect(() => parsePoolStatus('0 1024 thin-pool 1 155 33/16384 - rw')).toThrow(/metadata blocks/);
    expect(() => parsePoolStatus('0 1024 thin-pool 1 1/2 3/4 - sideways')).toThrow(/unknown pool mode 'sideways'/);
    expect(() => parseThinStatus('0 204800 thin Error')).toThrow(/mapped sectors 'Error'/);
    expect(() => parseThinStatus('')).toThrow(StatusError);
  });
});

describe("LVM's dm names (libdm dm_build_dm_name) and whether a pool is the kernel's", () => {
  it('joins VG, LV and layer with one hyphen and doubles the hyphens inside the names', () => {
    expect(lvmDmName('vgud', 'pool', 'tpool')).toBe('vgud-pool-tpool');
    expect(lvmDmName('pve', 'data')).toBe('pve-data');
    expect(lvmDmName('my-vg', 'thin-pool', 'tpool')).toBe('my--vg-thin--pool-tpool');
    expect(lvmDmName('a--b', 'c', 'tpool')).toBe('a----b-c-tpool');
  });

  it('a pool with no device under /dev/mapper is not active: its images are read', () => {
    expect(runningPool({ vg: 'dmthin-test-absent', pool: `p${process.pid}`, vgId: 'abcdef-0123' }, ['/dev/null'])).toBeUndefined();
  });
});

describe('sizes and counts', () => {
  it('reads sizes in bytes: binary units whatever their case, sectors, bare numbers', () => {
    const cases: Array<[string, number]> = [
      ['4096', 4096],
      ['64k', 65536],
      ['64K', 65536],
      ['64KiB', 65536],
      ['64kb', 65536],
      ['1.5k', 1536],
      ['10G', 10 * 2 ** 30],
      ['1TiB', 2 ** 40],
      ['128s', 65536],
      ['3b', 3],
      [' 2m ', 2 * 2 ** 20],
    ];
    for (const [text, bytes] of cases) expect(parseBytes(text, 'size'), text).toBe(bytes);
    expect(parseBytes('8', 'size', { bareUnit: 512 })).toBe(4096);
  });

  it('refuses what is not a size, a fraction of a byte, an unknown unit, a size too large', () => {
    for (const bad of ['', 'x', '-1', '1.3', '5q', '64 KB B', '99999999e']) expect(() => parseBytes(bad, 'size'), bad).toThrow(ArgumentError);
    expect(() => parseBytes('8E', 'size')).toThrow(/too large/);
    expect(() => parseBytes('0', 'size', { positive: true })).toThrow(/must not be 0/);
    expect(() => parseBytes('1000', 'size', { multipleOf: 512 })).toThrow(/multiple of 512/);
  });

  it('reads sectors: whole sectors only, never 0', () => {
    expect(parseSectors('1m', 'size')).toBe(2048);
    expect(parseSectors('16', 'size', 512)).toBe(16);
    expect(() => parseSectors('1000', 'size')).toThrow(ArgumentError);
    expect(() => parseSectors('0', 'size')).toThrow(ArgumentError);
  });

  it('reads counts and u64 values exactly, refusing what does not fit', () => {
    expect(parseCount('007', 'n')).toBe(7);
    expect(parseCount(String(Number.MAX_SAFE_INTEGER), 'n')).toBe(Number.MAX_SAFE_INTEGER);
    expect(() => parseCount('9007199254740992', 'n')).toThrow(/too large/);
    expect(() => parseCount('5', 'n', 4)).toThrow(/at most 4/);
    for (const bad of ['-1', '1.0', '0x10', '']) expect(() => parseCount(bad, 'n'), bad).toThrow(ArgumentError);
    expect(parseU64('18446744073709551615', 'tid')).toBe(2n ** 64n - 1n);
    expect(() => parseU64('18446744073709551616', 'tid')).toThrow(/64 bits/);
  });

  it('prints sizes the way thin_ls does: divide by 1024 while above 1 MiB, then once more if above 8 KiB', () => {
    expect(humanSize(0)).toBe('0');
    expect(humanSize(8192)).toBe('8192');
    expect(humanSize(9000)).toBe('9KiB'); // 8.79 rounded
    expect(humanSize(2 ** 20)).toBe('1024KiB'); // not above 1 MiB: one rounded division
    expect(humanSize(2 ** 20 + 1)).toBe('1024KiB');
    expect(humanSize(512 * 2 ** 20)).toBe('512MiB');
    expect(humanSize(3 * 2 ** 40)).toBe('3072GiB'); // 3072 is not above 8 KiB: no last division
    expect(humanSize(9 * 2 ** 40)).toBe('9TiB');
  });
});

describe('node accessor (format/btree-node.ts)', () => {
  it('reads keys, u64 and block_time values, u32 values and struct offsets as laid out', () => {
    const b = newNode(LEAF_NODE, 77, 8, 3);
    const keys = [5, 2 ** 32 + 1, 2 ** 52];
    const values: Array<[number, number]> = [
      [0, 0],
      [2 ** 40 - 1, 0xffffff],
      [300, 12],
    ];
    keys.forEach((k, i) => {
      setKeyAt(b, i, k);
      writeBlockTime(b, valueOffset(maxEntriesFor(8), 8, i), values[i][0], values[i][1]);
    });
    sealNode(b);
    const n = BTreeNode.validated(b, 77, 8);
    expect([n.nrEntries, n.maxEntries, n.valueSize, n.isLeaf, n.location]).toEqual([3, 252, 8, true, 77]);
    expect(keys.map((_, i) => n.key(i))).toEqual(keys);
    expect(values.map((_, i) => [n.dataBlock(i), n.time(i)])).toEqual(values);
    // block_time is data_block << 24 | time: the u64 is the same bits.
    expect(n.u64(2)).toBe(300 * 2 ** 24 + 12);
    expect([blockOf(b, valueOffset(252, 8, 2)), timeOf(b, valueOffset(252, 8, 2))]).toEqual([300, 12]);
    expect([lowHalf(300, 12), highHalf(300)]).toEqual([((300 % 256) << 24) | 12, 1]);
    expect(() => BTreeNode.validated(b, 78, 8)).toThrow(/says it is block 77/);
  });

  it('reads the same through an unaligned view (copied once)', () => {
    const b = newNode(LEAF_NODE, 9, 4, 2);
    setKeyAt(b, 0, 10);
    setKeyAt(b, 1, 11);
    setU32(b, valueOffset(maxEntriesFor(4), 4, 0), 3);
    setU32(b, valueOffset(maxEntriesFor(4), 4, 1), 4000000000);
    sealNode(b);
    const shifted = new Uint8Array(BLOCK_SIZE + 1);
    shifted.set(b, 1);
    const n = new BTreeNode(shifted.subarray(1), 9);
    expect([n.key(0), n.key(1), n.u32(0), n.u32(1), n.maxEntries]).toEqual([10, 11, 3, 4000000000, 336]);
    expect([n.firstBadKey(), n.firstBadKey(11), n.firstBadKey(0, 11)]).toEqual([-1, 0, 1]);
  });
});

/** Builds trees into a file, block 0 left empty (as a superblock would be). */
class FileSink implements NodeSink {
  readonly blocks = new Map<number, Uint8Array>();
  private next = 1;
  allocate(): number {
    return this.next++;
  }
  write(block: number, data: Uint8Array): void {
    this.blocks.set(block, data.slice());
  }
  save(name: string): BlockReader {
    const buf = new Uint8Array(this.next * BLOCK_SIZE);
    for (const [b, d] of this.blocks) buf.set(d, b * BLOCK_SIZE);
    const path = tmp.path(name);
    writeFileSync(path, buf);
    return new BlockReader(path);
  }
}

function build(n: number, keyOf = (i: number): number => 3 * i + 1): { reader: BlockReader; root: number; sink: FileSink } {
  const sink = new FileSink();
  const b = new BTreeBuilder(sink, 8);
  for (let i = 0; i < n; i++) b.pushBlockTime(keyOf(i), 1000 + i, i % 7);
  const root = b.finish();
  return { reader: sink.save(`tree-${n}`), root, sink };
}

const TREE = { kind: 'mappings', devId: 4 } as const;

describe('builder and traversal (pdata/btree)', () => {
  it('splits entries into nodes of at most max and at least a third of it', () => {
    for (const n of [1, 251, 252, 253, 336, 337, 505, 10000]) {
      const sizes = chunkSizes(n, 252);
      expect(sizes.reduce((a, x) => a + x, 0)).toBe(n);
      expect(Math.max(...sizes)).toBeLessThanOrEqual(252);
      if (sizes.length > 1) expect(Math.min(...sizes)).toBeGreaterThanOrEqual(84);
    }
  });

  it('walks back every entry it built, in key order, at every size; no non-root node under a third full', () => {
    for (const n of [0, 1, 252, 253, 300, 5000, 70000]) {
      const { reader, root } = build(n);
      const keys: number[] = [];
      const data: number[] = [];
      forEachLeaf(reader, root, 8, TREE, (node) => {
        for (let i = 0; i < node.nrEntries; i++) {
          keys.push(node.key(i));
          data.push(node.dataBlock(i));
        }
      });
      expect(keys.length, `n=${n}`).toBe(n);
      expect(keys.every((k, i) => k === 3 * i + 1 && data[i] === 1000 + i)).toBe(true);
      const problems: TreeProblem[] = [];
      const counts = new RefCounts(reader.nrBlocks);
      const r = new BTreeTraversal(reader, { once: true, keepGoing: true, underfull: true, counts }).walk(root, {
        valueSize: 8,
        tree: TREE,
        onProblem: (p) => problems.push(p),
      });
      expect([r.entries, r.errors, problems]).toEqual([n, 0, []]);
      // Every node built is reached exactly once.
      for (let b = 1; b < reader.nrBlocks; b++) expect(counts.get(b), `block ${b}`).toBe(1);
      const c = new LeafCursor(reader, root, TREE);
      const pulled: number[] = [];
      while (c.next()) pulled.push(c.key);
      expect(pulled).toEqual(keys);
      // The rightmost path alone gives the highest key the whole walk found.
      expect(highestKey(reader, root, 8, TREE), `n=${n}`).toBe(n === 0 ? -1 : keys[keys.length - 1]);
      reader.close();
    }
  });

  it('strict mode throws the codec error at the damaged block; tolerant mode gives the keys it cost, in order', () => {
    const { sink, root } = build(1000);
    const rootNode = new BTreeNode(must(sink.blocks.get(root), `block ${root}`), root);
    expect(rootNode.isLeaf).toBe(false);
    const second = rootNode.u64(1);
    const lo = rootNode.key(1);
    const hi = rootNode.key(2);
    must(sink.blocks.get(second), `block ${second}`)[100] ^= 1;
    const reader = sink.save('damaged');
    expect(() => forEachLeaf(reader, root, 8, TREE, () => {})).toThrow(ChecksumError);
    // highestKey reads the rightmost path only: a damaged node elsewhere is not on it.
    expect(highestKey(reader, root, 8, TREE)).toBe(3 * 999 + 1);
    const events: string[] = [];
    new BTreeTraversal(reader).walk(root, {
      valueSize: 8,
      tree: TREE,
      onLeaf: (n) => events.push(`leaf ${n.key(0)}`),
      onProblem: (p) => events.push(`${p.code} ${p.block} ${rangeText(p.range)} ${treeName(p.tree)}`),
    });
    expect(events[1]).toBe(`node-checksum ${second} ${lo}..${hi - 1} thin device 4 mappings`);
    expect(events.length).toBe(rootNode.nrEntries);
    expect(events.filter((e) => e.startsWith('leaf')).map((e) => Number(e.split(' ')[1]))).toEqual(
      [0, ...Array.from({ length: rootNode.nrEntries - 2 }, (_, i) => i + 2)].map((i) => rootNode.key(i)),
    );
    reader.close();
  });

  it('finds a cycle, a pointer past the end and keys outside the parent range, without hanging', () => {
    const { sink, root } = build(1000);
    const rootNode = new BTreeNode(must(sink.blocks.get(root), `block ${root}`), root);
    const max = rootNode.maxEntries;
    const patch = (i: number, value: number): void => {
      const b = must(sink.blocks.get(root), `block ${root}`);
      setU64(b, valueOffset(max, 8, i), value);
      sealNode(b);
    };
    const codes = (name: string): string[] => {
      const reader = sink.save(name);
      const out: string[] = [];
      new BTreeTraversal(reader).walk(root, { valueSize: 8, tree: TREE, onProblem: (p) => out.push(`${p.code}@${p.block}`) });
      reader.close();
      return out;
    };
    const first = rootNode.u64(0);
    patch(0, root);
    expect(codes('cycle')).toEqual([`node-cycle@${root}`]);
    patch(0, 10 ** 9);
    expect(codes('past-end')).toEqual([`node-pointer-past-end@${10 ** 9}`]);
    patch(0, rootNode.u64(2)); // child 2's keys under child 0's range
    expect(codes('outside')).toEqual([`key-outside-parent-range@${rootNode.u64(2)}`]);
    patch(0, first);
    expect(codes('healthy')).toEqual([]);
  });

  it('highestKey throws at damage on the rightmost path, and at a cycle there, without hanging', () => {
    const { sink, root } = build(1000);
    const rootNode = new BTreeNode(must(sink.blocks.get(root), `block ${root}`), root);
    const lastAt = rootNode.nrEntries - 1;
    const last = rootNode.u64(lastAt);
    must(sink.blocks.get(last), `block ${last}`)[100] ^= 1;
    const damaged = sink.save('right-damaged');
    expect(() => highestKey(damaged, root, 8, TREE)).toThrow(ChecksumError);
    damaged.close();
    must(sink.blocks.get(last), `block ${last}`)[100] ^= 1;
    const b = must(sink.blocks.get(root), `block ${root}`);
    setU64(b, valueOffset(rootNode.maxEntries, 8, lastAt), root);
    sealNode(b);
    const cyclic = sink.save('right-cycle');
    expect(() => highestKey(cyclic, root, 8, TREE)).toThrow(/cycle: node is its own ancestor/);
    cyclic.close();
  });
});
