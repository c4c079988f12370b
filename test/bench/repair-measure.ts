/**
 * Recovery measurement: damages the project's kernel-made fixtures in
 * named ways, repairs each with dmthin, thin_repair 0.9 and thin_repair
 * 1.1, and counts mappings correct / wrong / missing against the
 * undamaged original (see recovery.ts). Also reports whether each output
 * passes thin_check 1.1. Run: `npm run measure-repair` (after a build).
 *
 * The cases are exported for test/thin/repair.test.ts, which asserts
 * dmthin's side of the same table.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSuperblock } from '../../src/format/superblock.js';
import { BlockReader } from '../../src/io/block-reader.js';
import { projectRoot } from '../support/env.js';
import { type Score, score, treeBlocks } from './recovery.js';

const cli = join(projectRoot, 'dist', 'dmthin.cjs');

export interface RepairCase {
  name: string;
  fixture: 'snapshots' | 'many-thins' | 'generations';
  /** Damages `path` in place; returns what was done. */
  damage: (path: string) => string;
  /** Extra arguments every tool needs for this case (e.g. a lost block size). */
  args?: string[];
}

function zeroBlock(path: string, b: number): void {
  execFileSync('dd', ['if=/dev/zero', `of=${path}`, 'bs=4096', `seek=${b}`, 'count=1', 'conv=notrunc', 'status=none']);
}

function flipByte(path: string, offset: number): void {
  const fd = readFileSync(path);
  fd[offset] = fd[offset] ^ 0xff;
  execFileSync('dd', [`of=${path}`, 'bs=1', `seek=${offset}`, 'count=1', 'conv=notrunc', 'status=none'], { input: fd.subarray(offset, offset + 1) });
}

function sbField(path: string): ReturnType<typeof parseSuperblock> {
  const r = new BlockReader(path);
  try {
    return parseSuperblock(r.read(0).slice());
  } finally {
    r.close();
  }
}

/** The middle leaf of a device's tree: real damage lands anywhere, not only at the edges. */
function midLeaf(path: string, dev: number): number {
  const t = treeBlocks(path, dev);
  return t.leaves[Math.floor(t.leaves.length / 2)];
}

export const CASES: RepairCase[] = [
  {
    name: 'one zeroed leaf of thin 1',
    fixture: 'snapshots',
    damage: (p) => {
      const b = midLeaf(p, 1);
      zeroBlock(p, b);
      return `zeroed block ${b}`;
    },
  },
  {
    name: 'one zeroed leaf of snapshot 2',
    fixture: 'snapshots',
    damage: (p) => {
      const t = treeBlocks(p, 2);
      const b = t.leaves[t.leaves.length - 1];
      zeroBlock(p, b);
      return `zeroed block ${b}`;
    },
  },
  {
    name: 'bad superblock checksum',
    fixture: 'snapshots',
    damage: (p) => {
      flipByte(p, 0);
      return 'flipped byte 0';
    },
  },
  {
    name: 'superblock zeroed',
    fixture: 'snapshots',
    damage: (p) => {
      zeroBlock(p, 0);
      return 'zeroed block 0';
    },
    args: ['--data-block-size', '256'],
  },
  {
    name: 'details root zeroed',
    fixture: 'snapshots',
    damage: (p) => {
      const b = sbField(p).detailsRoot;
      zeroBlock(p, b);
      return `zeroed block ${b}`;
    },
  },
  {
    name: 'top-level root zeroed',
    fixture: 'snapshots',
    damage: (p) => {
      const b = sbField(p).mappingRoot;
      zeroBlock(p, b);
      return `zeroed block ${b}`;
    },
  },
  {
    name: 'zeroed internal node of thin 10',
    fixture: 'many-thins',
    damage: (p) => {
      const t = treeBlocks(p, 10);
      const b = t.internals.length > 1 ? t.internals[1] : t.root;
      zeroBlock(p, b);
      return `zeroed block ${b}`;
    },
  },
  {
    name: 'the root leaves of thins 12 and 13',
    fixture: 'many-thins',
    damage: (p) => {
      const a = treeBlocks(p, 12).root;
      const b = treeBlocks(p, 13).root;
      zeroBlock(p, a);
      zeroBlock(p, b);
      return `zeroed blocks ${a}, ${b}`;
    },
  },
];

export interface ToolResult {
  ok: boolean;
  error?: string;
  score?: Score;
  checks?: boolean;
}

export const TOOLS: Record<string, (args: string[]) => string[]> = {
  dmthin: (a) => ['node', cli, 'repair', '-q', ...a],
  'thin_repair 0.9': (a) => ['/usr/sbin/thin_repair', ...a],
  'thin_repair 1.1': (a) => ['/opt/tpt-1.1/thin_repair', ...a],
};

function dumpOf(path: string): string {
  return execFileSync('node', [cli, 'dump', path], { maxBuffer: 1 << 30, encoding: 'utf8' });
}

/** Unpacks a project fixture into dir; returns its path. */
export function fixture(name: string, dir: string): string {
  const out = join(dir, `${name}.meta`);
  execFileSync('sh', ['-c', `xz -dc "${join(projectRoot, 'fixtures', `${name}.meta.xz`)}" > "${out}"`]);
  return out;
}

/** Runs one tool on one damaged file. */
/** Runs one tool on one damaged file, into an output of `outBytes` (default: the damaged file's size). */
export function runTool(tool: string, damaged: string, originalXml: string, dir: string, extra: string[] = [], outBytes = statSync(damaged).size): ToolResult {
  const out = join(dir, `out-${tool.replace(/\W/g, '_')}.meta`);
  rmSync(out, { force: true });
  copyFileSync(damaged, out);
  truncateSync(out, 0);
  truncateSync(out, outBytes);
  const argv = TOOLS[tool](['-i', damaged, '-o', out, ...extra]);
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) {
    const lines = `${r.stderr}\n${r.stdout}`
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
    return { ok: false, error: lines.pop() ?? (r.signal ? `killed by ${r.signal}` : `exit ${r.status}, no message`) };
  }
  let xml: string;
  try {
    xml = dumpOf(out);
  } catch (e) {
    return { ok: false, error: `output does not dump: ${String(e).split('\n')[0]}` };
  }
  const checks = spawnSync('/opt/tpt-1.1/thin_check', ['-q', out]).status === 0;
  return { ok: true, score: score(originalXml, xml), checks };
}

export interface SweepTotals {
  cases: number;
  correct: number;
  wrong: number;
  missing: number;
  failed: number;
  failsCheck: number;
  /** Cases with a device resurrected or lost. */
  deviceErrors: number;
}

/** Applies each damage to a fresh copy of `orig` and sums the scores of `tools` over all of them. */
export function sweep(orig: string, damages: Array<(path: string) => void>, tools: string[], dir: string): Record<string, SweepTotals> {
  const originalXml = dumpOf(orig);
  const totals: Record<string, SweepTotals> = {};
  for (const t of tools) totals[t] = { cases: 0, correct: 0, wrong: 0, missing: 0, failed: 0, failsCheck: 0, deviceErrors: 0 };
  const damaged = join(dir, 'sweep.meta');
  for (const hurt of damages) {
    copyFileSync(orig, damaged);
    hurt(damaged);
    for (const t of tools) {
      const a = totals[t];
      a.cases++;
      const r = runTool(t, damaged, originalXml, dir, [], statSync(orig).size);
      if (!r.ok || !r.score) {
        a.failed++;
        continue;
      }
      const s = r.score;
      a.correct += s.correct;
      a.wrong += s.wrong;
      a.missing += s.missing;
      if (!r.checks) a.failsCheck++;
      if (s.extraDevices.length || s.lostDevices.length) a.deviceErrors++;
    }
  }
  return totals;
}

/** Zeroes every leaf of the given devices' trees, one at a time. */
export function sweepLeaves(orig: string, devIds: number[], tools: string[], dir: string): { leaves: number; totals: Record<string, SweepTotals> } {
  const leaves = new Set<number>();
  for (const id of devIds) for (const l of treeBlocks(orig, id).leaves) leaves.add(l);
  return {
    leaves: leaves.size,
    totals: sweep(
      orig,
      [...leaves].map((l) => (p: string) => zeroBlock(p, l)),
      tools,
      dir,
    ),
  };
}

/** Truncates the file after every `step`-th block up to the last one in use. */
export function sweepTruncations(orig: string, step: number, tools: string[], dir: string): { cuts: number; totals: Record<string, SweepTotals> } {
  const r = new BlockReader(orig);
  let last = 0;
  try {
    for (let b = 0; b < r.nrBlocks; b++) if (r.read(b).some((x) => x !== 0)) last = b;
  } finally {
    r.close();
  }
  const cuts: number[] = [];
  for (let c = 1; c <= last; c += step) cuts.push(c);
  return {
    cuts: cuts.length,
    totals: sweep(
      orig,
      cuts.map((c) => (p: string) => truncateSync(p, c * 4096)),
      tools,
      dir,
    ),
  };
}

function devIdsOf(path: string): number[] {
  return [...dumpOf(path).matchAll(/<device dev_id="(\d+)"/g)].map((m) => Number(m[1]));
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'dmthin-repair-'));
  try {
    const rows: string[] = [];
    rows.push('| damage | tool | correct | wrong | missing | devices resurrected / lost | thin_check 1.1 |');
    rows.push('|---|---|---:|---:|---:|---|---|');
    for (const c of CASES) {
      const orig = fixture(c.fixture, dir);
      const originalXml = dumpOf(orig);
      const damaged = join(dir, 'damaged.meta');
      copyFileSync(orig, damaged);
      const what = c.damage(damaged);
      for (const tool of Object.keys(TOOLS)) {
        const r = runTool(tool, damaged, originalXml, dir, c.args);
        const s = r.score;
        if (!r.ok || !s) {
          rows.push(`| ${c.name} (${what}) | ${tool} | failed: ${r.error} | | | | |`);
          continue;
        }
        rows.push(
          `| ${c.name} (${what}) | ${tool} | ${s.correct} | ${s.wrong} | ${s.missing} | ${s.extraDevices.join(',') || '-'} / ${s.lostDevices.join(',') || '-'} | ${r.checks ? 'passes' : 'FAILS'} |`,
        );
      }
    }
    console.log(rows.join('\n'));
    console.log('\nEvery leaf of every device zeroed, one at a time, totals over all cases:\n');
    console.log('| fixture | leaves | tool | correct | wrong | missing | failed | devices resurrected or lost (cases) | fails thin_check 1.1 (cases) |');
    console.log('|---|---:|---|---:|---:|---:|---:|---:|---:|');
    for (const name of ['snapshots', 'many-thins', 'generations'] as const) {
      const orig = fixture(name, dir);
      const { leaves, totals } = sweepLeaves(orig, devIdsOf(orig), Object.keys(TOOLS), dir);
      for (const [t, a] of Object.entries(totals)) {
        console.log(`| ${name} | ${leaves} | ${t} | ${a.correct} | ${a.wrong} | ${a.missing} | ${a.failed} | ${a.deviceErrors} | ${a.failsCheck} |`);
      }
    }
    console.log('\nThe file truncated after every 4th block up to its last block in use, totals over all cases ("failed": the tool refused or crashed):\n');
    console.log('| fixture | cuts | tool | correct | wrong | missing | failed | devices resurrected or lost (cases) | fails thin_check 1.1 (cases) |');
    console.log('|---|---:|---|---:|---:|---:|---:|---:|---:|');
    for (const name of ['snapshots', 'generations'] as const) {
      const orig = fixture(name, dir);
      const { cuts, totals } = sweepTruncations(orig, 4, Object.keys(TOOLS), dir);
      for (const [t, a] of Object.entries(totals)) {
        console.log(`| ${name} | ${cuts} | ${t} | ${a.correct} | ${a.wrong} | ${a.missing} | ${a.failed} | ${a.deviceErrors} | ${a.failsCheck} |`);
      }
    }
    console.log(`\n(fixtures from fixtures/*.meta.xz, made by a 6.1 kernel in the VM; every repaired output checked with thin_check 1.1)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
