/**
 * Runs a guest scenario where a dm-thin kernel is: directly on a host that
 * has one (as root), else in the VM harness. Says loudly why when neither.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hostHasDmThin, makeScratch, runInVm, vmAvailability } from '../../src/vm/vm.js';
import { projectRoot } from '../support/env.js';

/** Why kernel tests cannot run here, or undefined when they can. */
export function kernelUnavailableReason(): string | undefined {
  if (hostHasDmThin()) return undefined;
  if (process.getuid?.() !== 0) return 'kernel tests need root (for the VM: qemu with 9p shares of /)';
  if (!existsSync(join(projectRoot, 'dist', 'dmthin.cjs'))) return 'dist/dmthin.cjs missing: run npm run build';
  const a = vmAvailability();
  return a.ok ? undefined : `this kernel has no device-mapper and the VM harness cannot run: ${a.reason}`;
}

export interface ScenarioRun {
  observed: Record<string, any>;
  output: string;
  exitCode: number;
  where: 'host' | 'vm';
  seconds: number;
  /** The scratch directory (files the scenario made); remove it when done. */
  scratch: string;
}

/** Runs test/kernel/guest/NAME with (project root, work dir) and reads its observed.json. */
export async function runScenario(name: string, timeoutMs = 480_000): Promise<ScenarioRun> {
  const scratch = makeScratch('test-');
  const work = join(scratch, 'work');
  const script = join(projectRoot, 'test', 'kernel', 'guest', name);
  const t0 = Date.now();
  let output: string;
  let exitCode: number;
  let where: 'host' | 'vm';
  if (hostHasDmThin()) {
    const r = spawnSync(process.execPath, [script, projectRoot, work], { encoding: 'utf8', timeout: timeoutMs });
    output = `${r.stdout}${r.stderr}`;
    exitCode = r.status ?? -1;
    where = 'host';
  } else {
    const sh = join(scratch, 'run.sh');
    writeFileSync(sh, `exec "${process.execPath}" "${script}" "${projectRoot}" "${work}" 2>&1\n`);
    const r = await runInVm(sh, { cwd: projectRoot, scratch, timeoutMs });
    output = r.output;
    exitCode = r.exitCode;
    where = 'vm';
  }
  const file = join(work, 'observed.json');
  if (!existsSync(file)) throw new Error(`scenario ${name} wrote no observed.json (exit ${exitCode}):\n${output.slice(-3000)}`);
  return { observed: JSON.parse(readFileSync(file, 'utf8')), output, exitCode, where, seconds: (Date.now() - t0) / 1000, scratch };
}
