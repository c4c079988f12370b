import type { DoctorReport, KitFile } from '../thin/doctor/report.js';
import { formatJson } from './json.js';
import type { Diagnosis } from '../thin/doctor/diagnose.js';
import { checkKitDir, writeKit, writeReportKit } from '../thin/doctor/kit.js';
import { reportText } from '../thin/doctor/text.js';
import type { PoolSource } from '../thin/pool-source.js';

export interface DoctorFlags {
  json?: boolean;
  output?: string;
}

/**
 * How the LVM, Docker and live doctors print and write, the same way for
 * the three: text for a person (thin/doctor/text.ts) or the report as JSON,
 * and `-o DIR` the kit (thin/doctor/kit.ts) with each doctor's extras.
 */
export function doctorExit(reports: readonly DoctorReport[]): number {
  return reports.every((r) => r.healthy) ? 0 : 1;
}

/** Refuses a kit directory that exists or cannot be made, before anything is read. */
export function refuseKitDir(dir: string | undefined): void {
  if (dir !== undefined) checkKitDir(dir);
}

/**
 * The kit of a doctor's report: the raw kit (original metadata packed,
 * repaired metadata, candidate blocks, inferred exports) plus `extras`
 * when the metadata could be examined; the report, the plan and the extras
 * alone when it could not (an LVM pool whose metadata LV is on a missing PV).
 */
export function writeDoctorKit(
  dir: string,
  report: DoctorReport,
  source?: PoolSource,
  diagnosis?: Diagnosis,
  extras: (work: string) => KitFile[] = () => [],
): void {
  if (source && diagnosis) writeKit(source, diagnosis, dir, { json: (r) => formatJson(r), extras });
  else writeReportKit(dir, report, { json: (r) => formatJson(r), extras });
}

/** Prints reports: text, or JSON (one report as itself, several as {pools: [...]}). */
export function printDoctor(reports: readonly DoctorReport[], o: DoctorFlags, one: boolean): void {
  if (o.json) process.stdout.write(formatJson(one ? reports[0] : { pools: reports }));
  else process.stdout.write(reports.map(reportText).join('\n'));
}
