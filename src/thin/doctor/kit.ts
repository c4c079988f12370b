/**
 * The kit `doctor -o DIR` writes: everything the plan needs, made ahead
 * so that the admin copies instead of improvising. DIR must not exist; the
 * kit is built in a directory beside it and renamed to DIR only when every
 * file is written, and removed when anything fails: either the whole kit
 * or nothing.
 *
 * - report.json: the report, with this kit in it;
 * - plan.txt: the steps in order;
 * - original-metadata.bin: the metadata as found, byte for byte;
 * - original-metadata.pack: a compact copy of its blocks that check
 *   (thin_metadata_pack's format): damaged blocks are not in it;
 * - repaired.meta: what the best repair gives, in a device large enough
 *   to commit to (a larger one when the metadata was exhausted); it must
 *   check clean here too;
 * - candidates/data-block-N.bin: each candidate block's bytes;
 * - inferred/thin-ID.img: each device with matched candidates, exported
 *   from the repaired metadata with those blocks placed where the evidence
 *   says. Inferred, so labelled: never written into the metadata.
 */
import { closeSync, existsSync, ftruncateSync, mkdirSync, openSync, renameSync, rmSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { ArgumentError, UsageError, must } from '../../errors.js';
import { type ByteSource, FileSource } from '../../io/byte-source.js';
import { errnoWords } from '../../io/files.js';
import { pack } from '../../pack/pack.js';
import { check, describeFinding } from '../check/check.js';
import { exportDevice } from '../export.js';
import { Metadata } from '../metadata.js';
import type { PoolSource } from '../pool-source.js';
import { repair } from '../repair/repair.js';
import type { Diagnosis } from './diagnose.js';
import type { Candidate, DoctorReport, KitFile, PlanStep } from './report.js';
import { copyRaw } from './raw-copy.js';
import { planText } from './text.js';

export interface KitOptions {
  /** The report as JSON (the CLI's one converter: keys snake_case). */
  json: (report: DoctorReport) => string;
  onStage?: (stage: string) => void;
  /** What the LVM, Docker or live doctor adds (the fixed VG text), written into the work directory `work`; listed with the rest. */
  extras?: (work: string) => KitFile[];
}

/** Refuses a kit directory that exists or cannot be made, before any work. */
export function checkKitDir(dir: string): void {
  if (existsSync(dir)) throw new ArgumentError(`${dir} exists: the kit goes into a new directory (nothing was written)`);
  if (!existsSync(dirname(dir) || '.')) throw new ArgumentError(`cannot make ${dir}: ${dirname(dir)} does not exist`);
}

/**
 * Makes the new directory `dir` whole or not at all: `fill` writes into a
 * work directory beside it and lists what it wrote, the extras follow,
 * then plan.txt and report.json; the work directory is renamed to `dir`
 * only then, and removed when anything fails. Sets report.kit.
 */
/** A plan step with the kit written: KIT is its directory, and the steps and advice that make one say it is made. */
function inKit(step: PlanStep, dir: string): PlanStep {
  const at = resolve(dir);
  const fill = (t: string): string =>
    t
      .replace(/ \(with no kit yet, make it: [^\n]*? -o KIT\)/, '')
      .replace(/; with no kit yet, make it: [^\n]*? -o KIT\)/, ')')
      .replaceAll('KIT/', `${at}/`);
  const lines = step.command?.split('\n') ?? [];
  const makesKit = (l: string): boolean => /^dmthin .*doctor .* -o KIT$/.test(l);
  if (lines.some(makesKit)) {
    const rest = lines.filter((l) => !makesKit(l));
    return { step: `${fill(step.step)} (done: the kit is ${at})`, ...(rest.length ? { command: fill(rest.join('\n')) } : {}) };
  }
  return { ...step, step: fill(step.step), ...(step.command === undefined ? {} : { command: fill(step.command) }) };
}

function inNewDir(dir: string, report: DoctorReport, options: KitOptions, fill: (work: string, files: KitFile[]) => void): DoctorReport {
  checkKitDir(dir);
  const work = join(dirname(dir), `.${basename(dir)}.partial-${process.pid}`);
  try {
    mkdirSync(work);
  } catch (e) {
    throw new UsageError(`cannot make ${work} for the kit: ${errnoWords(e)}`);
  }
  let done = false;
  try {
    const files: KitFile[] = [];
    fill(work, files);
    if (options.extras) files.push(...options.extras(work));
    // plan.txt and report.json are always there; files lists what the roles name.
    const kit = { dir, files };
    const withKit: DoctorReport = { ...report, plan: report.plan.map((step) => inKit(step, dir)), kit };
    writeFileSync(join(work, 'plan.txt'), planText(withKit));
    writeFileSync(join(work, 'report.json'), options.json(withKit));
    renameSync(work, dir);
    done = true;
    report.kit = kit;
    report.plan = withKit.plan;
    return withKit;
  } finally {
    if (!done) rmSync(work, { recursive: true, force: true });
  }
}

/** The kit of a report whose metadata could not be read (an LVM pool's metadata LV on a missing PV): the report, the plan and the extras. */
export function writeReportKit(dir: string, report: DoctorReport, options: KitOptions): DoctorReport {
  return inNewDir(dir, report, options, () => {});
}

/** Writes the kit for `d` into the new directory `dir`; sets d.report.kit. */
export function writeKit(source: PoolSource, d: Diagnosis, dir: string, options: KitOptions): DoctorReport {
  const stage = options.onStage ?? ((): void => {});
  return inNewDir(dir, d.report, options, (work, files) => {
    const at = (name: string): string => join(work, name);
    stage('copying the original metadata');
    copyRaw(source.metadata, at('original-metadata.bin'));
    files.push({ path: 'original-metadata.bin', role: 'original_metadata' });
    stage('packing the original metadata');
    pack(source.metadata, at('original-metadata.pack'), source.files);
    files.push({ path: 'original-metadata.pack', role: 'original_metadata_pack' });

    const report = d.report;
    // NEEDS_CHECK alone is cleared in place once the check is clean: a repaired copy would be a file no step uses.
    const metadataWrong = report.problems.some(
      (p) => p.severity !== 'info' && ['superblock', 'lost_mappings', 'leaked_blocks', 'metadata_space_exhausted'].includes(p.code),
    );
    let repaired: string | undefined;
    if ((d.needsRepair || metadataWrong) && d.repairError === undefined) {
      stage('repairing into the kit');
      repaired = at('repaired.meta');
      writeFileSync(repaired, '');
      truncateSync(repaired, (d.space?.growTo ?? d.metadataBlocks) * 4096);
      repair(source.metadata, repaired, { inputs: source.files, dataBlockSize: d.dataBlockSize });
      const c = check(repaired);
      const bad = c.findings.filter((f) => f.severity !== 'note');
      if (bad.length > 0) throw new UsageError(`the repaired metadata does not check clean (${describeFinding(bad[0])}): no kit was written`);
      files.push({ path: 'repaired.meta', role: 'repaired_metadata' });
    }

    const data = openData(source);
    try {
      if (data && d.blockBytes && report.candidates.length > 0) {
        stage('copying the candidate blocks');
        mkdirSync(at('candidates'));
        const buf = new Uint8Array(d.blockBytes);
        for (const c of report.candidates) {
          data.readAt(buf, c.offset);
          const name = `candidates/data-block-${c.dataBlock}.bin`;
          writeFileSync(at(name), buf);
          files.push({ path: name, role: 'candidate_block' });
        }
        const placed = placements(report.candidates);
        if (repaired && placed.size > 0) {
          stage('writing the inferred exports');
          mkdirSync(at('inferred'));
          for (const id of [...placed.keys()].sort((a, b) => a - b)) {
            const name = `inferred/thin-${id}.INFERRED.img`;
            inferredExport(repaired, source.data ?? data, data, id, d, must(placed.get(id), 'its placements'), at(name));
            files.push({ path: name, role: 'inferred_export', deviceId: id });
          }
        }
      }
    } finally {
      if (typeof source.data === 'string') data?.close();
    }
  });
}

function openData(source: PoolSource): ByteSource | undefined {
  if (source.data === undefined) return undefined;
  return typeof source.data === 'string' ? new FileSource(source.data, 'data') : source.data;
}

/** Device `id` from the repaired metadata, with each matched candidate block written where its first match places it. */
/**
 * Where the inferred exports put candidate blocks: only a candidate with
 * exactly one match, at an offset no other candidate claims. Evidence that
 * points one block at several places, or several blocks at one place, is
 * a conflict the report shows and no image resolves (a guess written into
 * an image reads as the user's data).
 */
function placements(candidates: readonly Candidate[]): Map<number, Array<{ offset: number; from: number }>> {
  const claims = new Map<string, number>();
  for (const c of candidates) for (const m of c.matches) claims.set(`${m.deviceId}:${m.offset}`, (claims.get(`${m.deviceId}:${m.offset}`) ?? 0) + 1);
  const out = new Map<number, Array<{ offset: number; from: number }>>();
  for (const c of candidates) {
    if (c.matches.length !== 1) continue;
    const m = c.matches[0];
    if (claims.get(`${m.deviceId}:${m.offset}`) !== 1) continue;
    const list = out.get(m.deviceId) ?? [];
    list.push({ offset: m.offset, from: c.offset });
    out.set(m.deviceId, list);
  }
  return out;
}

function inferredExport(
  repaired: string,
  dataInput: string | ByteSource,
  data: ByteSource,
  id: number,
  d: Diagnosis,
  placed: ReadonlyArray<{ offset: number; from: number }>,
  path: string,
): void {
  const bs = d.blockBytes ?? 0;
  const dev = d.report.devices.find((x) => x.deviceId === id);
  const md = Metadata.open(repaired);
  const fd = openSync(path, 'w');
  try {
    // By path when it is one: the export opens (and closes) its own reader.
    exportDevice(md, dataInput, id, fd, dev?.size !== undefined ? { size: dev.size } : {});
    const buf = new Uint8Array(bs);
    for (const p of placed) {
      data.readAt(buf, p.from);
      writeSync(fd, buf, 0, bs, p.offset);
    }
    if (dev?.size !== undefined) ftruncateSync(fd, Math.max(dev.size, 0));
  } finally {
    closeSync(fd);
    md.close();
  }
}
