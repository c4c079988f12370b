/**
 * One fuzz case: damage a copy of undamaged metadata with a seed, then
 * check, dump and repair it, and judge everything against the undamaged
 * original: no exception but a typed one, check names the damaged block,
 * check's verdict equals thin_check 1.1's, and every mapping repair writes
 * is one the original has (same device, virtual block and data block).
 * Shared by test/fuzz/fuzz.test.ts (a few dozen cases in `npm test`) and
 * test/fuzz/run.ts (`npm run fuzz`: thousands, in parallel, with progress).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { MetadataError } from '../../src/format/errors.js';
import { UsageError } from '../../src/errors.js';
import { check } from '../../src/thin/check/check.js';
import { type DumpSink, dump } from '../../src/thin/dump/dump.js';
import { Metadata } from '../../src/thin/metadata.js';
import { repair } from '../../src/thin/repair/repair.js';
import { type Damage, damage, liveBlocks, usedBlocks } from '../support/damage-generator.js';
import { emptyFile } from '../support/env.js';
import { readBlock } from '../support/damage.js';
import { parseSuperblock } from '../../src/format/superblock.js';

export const TPT11_CHECK = '/opt/tpt-1.1/thin_check';
export const TPT09_CHECK = '/usr/sbin/thin_check';

export interface Pristine {
  name: string;
  path: string;
  used: Map<string, number[]>;
  live: number[];
  /** (dev * 2^32 + virtual block) -> data block. */
  mappings: Map<number, number>;
  bytes: number;
}

const key = (dev: number, v: number): number => dev * 2 ** 32 + v;

/** A dump sink recording every mapping into `into`. */
function collect(into: Map<number, number>): DumpSink {
  let dev = -1;
  return {
    begin() {},
    beginDevice(d) {
      dev = d.devId;
    },
    run(o, d, n) {
      for (let i = 0; i < n; i++) into.set(key(dev, o + i), d + i);
    },
    endDevice() {},
    end() {},
  };
}

const nullSink: DumpSink = { begin() {}, beginDevice() {}, run() {}, endDevice() {}, end() {} };

function mappingsOf(path: string): Map<number, number> {
  const m = new Map<number, number>();
  const md = Metadata.open(path);
  try {
    dump(md, collect(m));
  } finally {
    md.close();
  }
  return m;
}

export function pristineOf(name: string, path: string): Pristine {
  return { name, path, used: usedBlocks(path), live: liveBlocks(path), mappings: mappingsOf(path), bytes: statSync(path).size };
}

export interface CaseResult {
  label: string;
  kind: Damage['kind'];
  /** What is wrong: each a defect (an exception, a block not named, a wrong mapping...). */
  failures: string[];
  /** check and thin_check 1.1 differ (undefined without the oracle). */
  disagreement?: string;
  /** thin_check 1.1 differs from dmthin and thin_check 0.9, which agree: 1.1's miss. */
  oracleMiss?: string;
  repaired: boolean;
  /** Repair refused with a typed error (the message). */
  refused?: string;
  correct: number;
  wrong: number;
  recovered: number;
  ms: number;
}

/** The damaged block, or a count elsewhere that the damage changed, is what check must name. */
function namesDamage(d: Damage, messages: Array<{ block?: number; message: string }>): boolean {
  if (d.kind === 'truncated' || d.kind === 'index-or-bitmap-garbage' || d.kind === 'stale-copy') return true;
  const hits = [d.block, d.other].filter((b): b is number => b !== undefined);
  return messages.some((f) => hits.some((b) => f.block === b || f.message.includes(`block ${b}`)));
}

export function runCase(p: Pristine, seed: number, dir: string, oracle = existsSync(TPT11_CHECK)): CaseResult {
  const t0 = Date.now();
  const path = join(dir, 'case.meta');
  const d = damage(p.path, path, p.used, seed, p.live);
  const label = `${p.name} seed ${seed}: ${d.kind} at block ${d.block}${d.other !== undefined ? ` (and ${d.other})` : ''} (${d.blockKind})`;
  const r: CaseResult = { label, kind: d.kind, failures: [], repaired: false, correct: 0, wrong: 0, recovered: 0, ms: 0 };
  const typed = (e: unknown): boolean => e instanceof MetadataError || e instanceof UsageError;

  let ok: boolean;
  try {
    const c = check(path);
    ok = c.ok;
    const fatal = c.findings.filter((f) => f.severity === 'fatal');
    if (!ok) {
      for (const f of fatal.filter((x) => !/more \w+ blocks have bad reference counts/.test(x.message))) {
        if (f.block === undefined && !/block \d+/.test(f.message)) r.failures.push(`${label}: a finding names no block: ${f.message}`);
      }
      // A swap or duplicate of two older copies nobody uses is not damage the current metadata can show.
      if (!namesDamage(d, fatal)) r.failures.push(`${label}: the damaged block is not named: ${JSON.stringify(fatal.slice(0, 3))}`);
    }
    if (oracle) {
      // The verdict as the command gives it: any finding but a note fails, as in thin_check.
      const passes = c.findings.every((f) => f.severity === 'note');
      const theirs = spawnSync(TPT11_CHECK, ['-q', path]).status === 0;
      if (theirs !== passes) {
        const why = `${label}: dmthin ${passes ? 'passes' : 'fails'}, thin_check 1.1 ${theirs ? 'passes' : 'fails'}; ${c.findings.find((f) => f.severity !== 'note')?.message ?? ''}`;
        // thin_check 0.9 as the referee: where it sides with dmthin, the miss is 1.1's (reported apart).
        if (existsSync(TPT09_CHECK) && (spawnSync(TPT09_CHECK, ['-q', path]).status === 0) === passes) r.oracleMiss = why;
        else r.disagreement = why;
      }
    }
  } catch (e) {
    r.failures.push(`${label}: check threw ${(e as Error).stack}`);
  }

  try {
    const md = Metadata.open(path);
    try {
      dump(md, nullSink);
    } finally {
      md.close();
    }
  } catch (e) {
    if (!typed(e)) r.failures.push(`${label}: dump threw ${(e as Error).stack}`);
  }

  const out = emptyFile(join(dir, 'repaired.meta'), p.bytes);
  try {
    const rr = repair(path, out);
    r.repaired = true;
    r.recovered = rr.salvage.stats.recoveredMappings;
  } catch (e) {
    if (!(e instanceof UsageError)) r.failures.push(`${label}: repair threw ${(e as Error).stack}`);
    r.refused = (e as Error).message;
    // Refusing is right only where nothing vouches for a rebuild: a file cut
    // short, a superblock lost with no copy of the data block size, or both
    // of the superblock's trees hit (swapped or overwritten: the refusal then
    // names the surviving generations to choose from).
    const hits = [d.block, d.other];
    const superblockHit = hits.includes(0);
    const sb = parseSuperblock(readBlock(p.path, 0));
    const bothRoots = hits.includes(sb.mappingRoot) && hits.includes(sb.detailsRoot) && /no compatible roots found/.test(r.refused);
    if (d.kind !== 'truncated' && !bothRoots && !(superblockHit && /data block size/.test(r.refused)))
      r.failures.push(`${label}: repair refused: ${r.refused}`);
  }
  if (r.repaired) {
    const passes = oracle ? spawnSync(TPT11_CHECK, ['-q', out]).status === 0 : check(out).ok;
    if (!passes) r.failures.push(`${label}: the repaired metadata fails thin_check`);
    for (const [k, v] of mappingsOf(out)) {
      if (p.mappings.get(k) === v) r.correct++;
      else r.wrong++;
    }
    if (r.wrong > 0) r.failures.push(`${label}: repair wrote ${r.wrong} mappings the undamaged pool does not have`);
  }
  r.ms = Date.now() - t0;
  return r;
}

/** Totals over many cases, as `npm run fuzz` and docs/PERFORMANCE.md report them. */
export interface Tally {
  cases: number;
  repaired: number;
  refused: number;
  correct: number;
  wrong: number;
  recovered: number;
  disagreements: number;
  oracleMisses: number;
  failures: number;
  byKind: Record<string, number>;
  slowestMs: number;
}

export function emptyTally(): Tally {
  return { cases: 0, repaired: 0, refused: 0, correct: 0, wrong: 0, recovered: 0, disagreements: 0, oracleMisses: 0, failures: 0, byKind: {}, slowestMs: 0 };
}

export function addToTally(t: Tally, r: CaseResult): void {
  t.cases++;
  if (r.repaired) t.repaired++;
  if (r.refused !== undefined) t.refused++;
  t.correct += r.correct;
  t.wrong += r.wrong;
  t.recovered += r.recovered;
  if (r.disagreement) t.disagreements++;
  if (r.oracleMiss) t.oracleMisses++;
  t.failures += r.failures.length;
  t.byKind[r.kind] = (t.byKind[r.kind] ?? 0) + 1;
  t.slowestMs = Math.max(t.slowestMs, r.ms);
}
