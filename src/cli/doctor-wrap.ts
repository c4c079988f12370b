/**
 * What the LVM, Docker and live doctors print and write, the same way for
 * the three: text for a person (what is wrong, what is at risk, what to do
 * next), or the report as JSON, and `-o DIR` the kit, whole or nothing.
 * The kit here is the report, the plan and each doctor's own extras (the
 * fixed VG text); the raw kit (thin/doctor/kit.ts) adds the metadata files.
 */
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ArgumentError, UsageError } from '../errors.js';
import { errnoWords } from '../io/files.js';
import type { DoctorReport, KitFile } from '../thin/doctor/report.js';
import { formatJson } from './json.js';

export interface DoctorFlags {
  json?: boolean;
  output?: string;
}

/** Exit status: 0 healthy, 1 problems. */
export function doctorExit(reports: readonly DoctorReport[]): number {
  return reports.every((r) => r.healthy) ? 0 : 1;
}

/** Refuses a kit directory that exists or cannot be made, before anything is read. */
export function refuseKitDir(dir: string | undefined): void {
  if (dir === undefined) return;
  if (existsSync(dir)) throw new ArgumentError(`${dir} exists: the kit goes into a new directory (nothing was written)`);
  if (!existsSync(dirname(dir) || '.')) throw new ArgumentError(`cannot make ${dir}: ${dirname(dir)} does not exist`);
}

/**
 * Writes the kit into the new directory `dir`: report.json, plan.txt and
 * what `extras` writes into the work directory; renamed to `dir` only when
 * all is written, removed when anything fails. Sets report.kit.
 */
export function writeWrapKit(dir: string, report: DoctorReport, extras: (work: string) => KitFile[] = () => []): void {
  refuseKitDir(dir);
  const work = join(dirname(dir), `.${basename(dir)}.partial-${process.pid}`);
  try {
    mkdirSync(work);
  } catch (e) {
    throw new UsageError(`cannot make ${work} for the kit: ${errnoWords(e)}`);
  }
  let done = false;
  try {
    const files = extras(work);
    report.kit = { dir, files };
    writeFileSync(join(work, 'plan.txt'), planText(report));
    writeFileSync(join(work, 'report.json'), formatJson(report));
    renameSync(work, dir);
    done = true;
  } finally {
    if (!done) {
      rmSync(work, { recursive: true, force: true });
      report.kit = undefined;
    }
  }
}

/** Prints reports: text, or JSON (one report as itself, several as {pools: [...]}). */
export function printDoctor(reports: readonly DoctorReport[], o: DoctorFlags, one: boolean): void {
  if (o.json) process.stdout.write(formatJson(one ? reports[0] : { pools: reports }));
  else process.stdout.write(reports.map(doctorText).join('\n'));
}

const ORDER = { fatal: 0, non_fatal: 1, info: 2 } as const;

/** A report for a person: what is wrong, what is at risk, what to do next, in that order. */
export function doctorText(r: DoctorReport): string {
  const out: string[] = [];
  const bad = r.problems.filter((p) => p.severity !== 'info');
  out.push(`pool ${r.pool.name}${r.pool.running ? ` (running as ${r.pool.running})` : ''}: ${r.healthy ? 'healthy' : `${bad.length} problem(s)`}`);
  if (r.problems.length) {
    out.push('', 'What is wrong:');
    for (const p of [...r.problems].sort((a, b) => ORDER[a.severity] - ORDER[b.severity])) {
      out.push(`  [${p.severity}] ${p.code}: ${p.summary}`);
      if (p.followers?.length) out.push(`      it also causes: ${p.followers.map((f) => `${f.count} ${f.code}`).join(', ')} (not separate problems)`);
      out.push(`      fix: ${p.fix}`);
    }
  }
  const lossy = r.devices.filter((d) => d.lost.length > 0);
  if (lossy.length || r.candidates.length) {
    out.push('', 'What is at risk:');
    for (const d of lossy) {
      const bytes = d.lost.reduce((n, x) => n + x.length, 0);
      const shown = d.lost.slice(0, 8).map((x) => `bytes ${x.offset}..${x.offset + x.length - 1}`);
      out.push(
        `  ${d.name ?? `thin device ${d.deviceId}`}: ${bytes} bytes lost (${shown.join(', ')}${d.lost.length > shown.length ? `, and ${d.lost.length - shown.length} more ranges` : ''})`,
      );
    }
    if (r.candidates.length)
      out.push(`  ${r.candidates.length} candidate data block(s), counted used and mapped by nothing, may hold lost data (--json lists them)`);
  }
  if (r.plan.length) {
    out.push('', 'What to do next:');
    r.plan.forEach((s, i) => {
      out.push(`  ${i + 1}. ${s.step}`);
      if (s.command) for (const line of s.command.split('\n')) out.push(`       ${line}`);
    });
  }
  if (r.kit) {
    out.push('', `Kit written to ${r.kit.dir}:`);
    for (const f of r.kit.files) out.push(`  ${f.path} (${f.role})`);
  }
  return `${out.join('\n')}\n`;
}

/** The plan alone, numbered, for plan.txt; KIT is the kit's directory. */
export function planText(r: DoctorReport): string {
  if (!r.plan.length) return `pool ${r.pool.name}: healthy; nothing to do\n`;
  const out = [`pool ${r.pool.name}: the steps, in order (KIT is ${r.kit?.dir ?? 'the kit directory'})`, ''];
  r.plan.forEach((s, i) => {
    out.push(`${i + 1}. ${s.step}`);
    if (s.command) for (const line of s.command.split('\n')) out.push(`   ${line}`);
    out.push('');
  });
  return out.join('\n');
}
