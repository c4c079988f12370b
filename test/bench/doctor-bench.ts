/**
 * doctor against repair on the same pool (issue 23 wants doctor within 2x
 * of repair on 10 M mappings: BENCH_SIZES=D), run by `npm run bench` after
 * the oracle table (skip with BENCH_DOCTOR=0). Two states of each pool:
 * healthy (doctor checks; repair rebuilds everything) and with one leaf of
 * the first device zeroed in its middle (doctor checks, salvages, scans
 * for older copies and candidates; repair salvages and rebuilds).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeBlock } from '../support/damage.js';
import { treeBlocks } from './recovery.js';

export interface BenchPool {
  size: string;
  meta: string;
  metaBytes: number;
  mappings: number;
}

function seconds(cmd: string[], repeat: number, reset: () => void): number {
  let best = Infinity;
  for (let i = 0; i < repeat; i++) {
    reset();
    const t0 = process.hrtime.bigint();
    const r = spawnSync(cmd[0], cmd.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 2 ** 31 - 1 });
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    // doctor exits 1 when it finds problems: only 2 (usage) and signals are failures.
    if (r.status === null || r.status > 1) throw new Error(`${cmd.join(' ')} failed (${r.status}): ${r.stderr?.toString().slice(-500)}`);
    best = Math.min(best, wall);
  }
  return best;
}

export function doctorBench(cli: string, dir: string, pools: readonly BenchPool[], repeat: number): string {
  const rows = ['| pool | state | repair s | doctor s | doctor / repair |', '|---|---|---|---|---|'];
  for (const p of pools) {
    const damaged = join(dir, `${p.size}.doctor-damaged.meta`);
    copyFileSync(p.meta, damaged);
    const first = Math.min(...[0, 1, 2, 3].filter((id) => safeLeaves(damaged, id).length > 0));
    const leaves = safeLeaves(damaged, first);
    writeBlock(damaged, leaves[Math.floor(leaves.length / 2)], new Uint8Array(4096));
    for (const [state, meta] of [
      ['healthy', p.meta],
      ['one leaf lost', damaged],
    ] as const) {
      const out = join(dir, `${p.size}.doctor-bench.out`);
      const reset = (): void => {
        rmSync(out, { force: true });
        writeFileSync(out, '');
        truncateSync(out, p.metaBytes);
      };
      const repair = seconds([process.execPath, cli, 'repair', '-q', '-i', meta, '-o', out], repeat, reset);
      const doctor = seconds([process.execPath, cli, 'doctor', '--json', meta], repeat, () => {});
      rmSync(out, { force: true });
      const row = `| ${p.size} (${(p.mappings / 1e6).toFixed(2)} M) | ${state} | ${repair.toFixed(2)} | ${doctor.toFixed(2)} | ${(doctor / repair).toFixed(2)} |`;
      rows.push(row);
      process.stderr.write(`${row}\n`);
    }
    rmSync(damaged, { force: true });
  }
  return `doctor against repair, best of ${repeat} runs, wall seconds\n${rows.join('\n')}`;
}

function safeLeaves(meta: string, id: number): number[] {
  try {
    return treeBlocks(meta, id).leaves;
  } catch {
    return [];
  }
}
