/**
 * What the tests can use on this machine: the two oracles, the shared
 * fixtures, a scratch directory. Whatever is missing makes its tests skip
 * with a reason printed loudly, never pass.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
/** The project root, whether this runs from the sources (vitest) or compiled into dist/test (the bench and the fuzzers). */
export const projectRoot = existsSync(join(here, '..', '..', 'package.json')) ? resolve(here, '..', '..') : resolve(here, '..', '..', '..');
export const sharedFixtures = resolve(projectRoot, '..', 'shared', 'fixtures');

const thinCheck09 = ['/usr/sbin/thin_check', '/sbin/thin_check'].find(existsSync);
export const tpt09 = thinCheck09 ? dirname(thinCheck09) : undefined;
export const tpt11 = existsSync('/opt/tpt-1.1/thin_check') ? '/opt/tpt-1.1' : undefined;

const warned = new Set<string>();
/** Prints why a group of tests is skipped, once, where a human will see it. */
export function skipReason(cond: boolean, reason: string): boolean {
  if (!cond && !warned.has(reason)) {
    warned.add(reason);
    process.stderr.write(`\n*** SKIPPING: ${reason} ***\n`);
  }
  return !cond;
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export function runTool(bin: string, args: string[], input?: string): Run {
  const r = spawnSync(bin, args, { encoding: 'utf8', input, maxBuffer: 1 << 30 });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

export function oracle(version: '0.9' | '1.1', tool: string, args: string[]): Run {
  const dir = version === '0.9' ? tpt09 : tpt11;
  if (!dir) throw new Error(`oracle ${version} missing`);
  return runTool(join(dir, tool), args);
}

/** A scratch directory removed after the test file. */
export function scratch(prefix = 'dmthin-test-'): { dir: string; path: (n: string) => string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, path: (n) => join(dir, n), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function emptyFile(path: string, bytes: number): string {
  writeFileSync(path, '');
  truncateSync(path, bytes);
  return path;
}

export function xzDecompress(src: string, dst: string): void {
  execFileSync('sh', ['-c', `xz -dc "${src}" > "${dst}"`]);
}
