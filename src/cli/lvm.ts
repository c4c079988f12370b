import type { Command } from 'commander';
import { ArgumentError, UsageError, must } from '../errors.js';
import { humanSize } from '../format/units.js';
import { withOutput, withOutputAsync } from '../io/output-file.js';
import type { History } from '../lvm/history.js';
import { lvmHistory, openImages } from '../lvm/images.js';
import { type Inventory, lvmInventory } from '../lvm/inventory.js';
import { type OpenPool, openPool } from '../lvm/open-pool.js';
import { lvDiffSides } from '../lvm/diff-lv.js';
import { DIFF_DESCRIPTION, diffAction } from './diff.js';
import { type ByteRange, rangeBytes } from '../io/byte-range.js';
import { exportLv } from '../lvm/export-lv.js';
import { exportDeletedLv } from '../lvm/export-deleted-lv.js';
import { lvmDeleted } from '../lvm/deleted-lvs.js';
import { printable } from '../lvm/printable.js';
import type { LvmProblem } from '../lvm/scan.js';
import { undeleteLv } from '../lvm/undelete-lv.js';
import { planLvSend, sendLv } from '../lvm/send-lv.js';
import { sendThinLive } from '../driver/send-thin.js';
import { existsSync, writeFileSync } from 'node:fs';
import { fixVgText } from '../lvm/fix-vg-text.js';
import type { LvSource } from '../lvm/lv-source.js';
import { CHECK_DESCRIPTION, checkAction, checkOptions } from './check.js';
import { DELTA_DESCRIPTION, deltaAction, deltaOptions } from './delta.js';
import { DUMP_DESCRIPTION, dumpAction, dumpOptions } from './dump.js';
import { type LsFlags, lsAction, lsOptions } from './ls.js';
import type { PoolSource } from '../thin/pool-source.js';
import { withPoolSource } from './pool-verb.js';
import { REPAIR_DESCRIPTION, type RepairFlags, repairAction, repairOptions } from './repair.js';
import { REPORT_DESCRIPTION, reportAction, reportOptions } from './report.js';
import { RMAP_DESCRIPTION, rmapAction, rmapOptions } from './rmap.js';
import { parseThinIdArg } from './args.js';
import { alignColumns } from './columns.js';
import { announce, printJson } from './json.js';
import { formatDamagedExport, holdsText, lostLine } from './lost.js';
import type { LostHolds } from '../thin/lost-holds.js';
import { run } from './run.js';
import { LVM_RESIZE_DESCRIPTION, type ResizeFlags, resizeAction, resizeOptions } from './metadata-resize.js';
import { removedLvWords } from '../lvm/shrink-pool.js';
import { registerLvm as registerLvmShrink } from './shrink.js';
import { lvmDoctor, lvmKitExtras } from '../lvm/doctor-lvm.js';
import { kitHelp } from '../thin/doctor/kit-contents.js';
import { type DoctorFlags, doctorExit, printDoctor, refuseKitDir, writeDoctorKit } from './doctor-wrap.js';

function lvmDeletedAction(images: string[], o: { json?: boolean; data?: string; output?: string }): number {
  if (o.data || o.output)
    throw new ArgumentError("lvm ls --deleted reads each pool's data in the images: no --data or -o (give VG/POOL last for one pool's full listing)");
  const r = lvmDeleted(images);
  if (o.json) printJson(r);
  else {
    const lines: string[] = [];
    for (const p of r.pools) {
      lines.push(`${printable(p.vg)}/${printable(p.pool)}: ${p.devices.length} deleted thin device(s) whose trees survive (${p.liveDevices} live)`);
      for (const d of p.devices) {
        const who = d.name
          ? `${printable(p.vg)}/${printable(d.name)} (${humanSize(d.size ?? 0)}${d.removedAt ? `, removed by ${d.removedAt}` : ''})`
          : '(no LV name in the history)';
        lines.push(
          `  device ${d.deviceId} ${who}: ${d.mappedBlocks} mapped, ${d.intact} intact, ${d.shared} shared, ${d.reallocated} reallocated, ${d.unknown} unknown`,
        );
      }
      if (p.unattributed.leaves) lines.push(`  unattributed: ${p.unattributed.leaves} mapping leaves (${p.unattributed.mappings} mappings)`);
    }
    for (const p of r.problems) lines.push(`problem ${problemLine(p)}`);
    process.stdout.write(`${lines.join('\n')}\n`);
  }
  return r.problems.length ? 1 : 0;
}

function fixVgTextAction(images: string[], o: { output?: string; json?: boolean }): number {
  if (!o.output) throw new ArgumentError('--fix-vg-text needs -o FILE: the corrected VG text is written there, never into the images');
  const fix = fixVgText(images);
  withOutput(o.output, { inputs: images, what: 'VG text' }, (out) => writeFileSync(out.fd, fix.text));
  const pools = fix.pools.map((p) => `${printable(p.pool)} ${p.from} -> ${p.to}`).join(', ');
  announce(
    o.json,
    `wrote ${o.output}: VG ${printable(fix.vg)} with transaction_id ${pools}. With the pool inactive, keep LVM's current text first ` +
      `(vgcfgbackup -f ${printable(fix.vg)}.before ${printable(fix.vg)}), then: vgcfgrestore --force -f ${o.output} ${printable(fix.vg)}`,
    { wrote: o.output, vg: fix.vg, pools: fix.pools.map((p) => ({ pool: p.pool, from: p.from, to: Number(p.to) })) },
    process.stderr,
  );
  return 0;
}

/** The last argument of `lvm ls` names a pool when it is VG/POOL and no file of that name exists. */
function isPoolArgument(arg: string): boolean {
  return /^[^/\s]+\/[^/\s]+$/.test(arg) && !existsSync(arg);
}

/** IMAGE... VG/POOL: the last argument names the pool. */
function splitPoolArgs(args: readonly string[]): { images: string[]; pool: string } {
  if (args.length < 2) throw new ArgumentError('give the disk images, then VG/POOL');
  return { images: args.slice(0, -1), pool: args[args.length - 1] };
}

export function register(program: Command): void {
  const lvm = program.command('lvm').description('LVM thin pools read straight from disk images and devices, without lvm2 or device-mapper');
  const ls = lvm
    .command('ls')
    .summary("like lvs -a: VGs, PVs and every LV found in the images; with VG/POOL, the pool's thin devices as dmthin ls")
    .description(
      'Finds the LVM physical volumes in the files or devices given, assembles each volume group from its newest metadata, ' +
        "and lists every LV (hidden ones in brackets). For thin pools it reads the pool's own metadata too and reports where " +
        'it and LVM disagree. Nothing is written.\n\n' +
        "With VG/POOL last, lists that pool's thin devices as `dmthin ls` does (its options below).\n\n" +
        'Exit status: 0 nothing wrong, 1 problems found (listed), 2 bad arguments.',
    )
    .argument('<images...>', 'disk images, PV images or block devices holding the VG; then VG/POOL for the thin ls of one pool');
  lsOptions(ls, 'print {vgs, problems} as one JSON object (with VG/POOL: every field of every device)');
  ls.option(
    '--fix-vg-text',
    "with -o FILE: after a transaction-id mismatch where both sides name the same thin devices, write LVM's VG text with the pool metadata's transaction_id, for vgcfgrestore --force -f FILE",
  );
  ls.action((args: string[], o: LsFlags & { fixVgText?: boolean }) =>
    run(() => {
      const last = args[args.length - 1];
      if (o.fixVgText) return fixVgTextAction(args, o);
      if (o.deleted && !(args.length >= 2 && isPoolArgument(last))) return lvmDeletedAction(args, o);
      if (args.length >= 2 && isPoolArgument(last)) return withPoolInput(args, (input) => lsAction(input, o));
      const thinOnly = (['format', 'output', 'metadataSnap'] as const).filter((k) => o[k] !== undefined);
      if (thinOnly.length || !o.headers) throw new ArgumentError("-f, -o, -m and --no-headers list one pool's thin devices: give VG/POOL last");
      // A VG's name where an image was expected ("lvm ls disk.img vg0"): say what lvm ls takes, not "no such file".
      if (args.length >= 2 && !last.includes('/') && !existsSync(last))
        throw new ArgumentError(
          `${last} is not a file: lvm ls lists every VG of the images given (dmthin lvm ls ${args.slice(0, -1).join(' ')}); for one pool's thin devices give VG/POOL last`,
        );
      const inv = lvmInventory(args);
      if (o.json) printJson(inv);
      else process.stdout.write(formatInventory(inv));
      return inv.problems.length > 0 ? 1 : 0;
    }),
  );
  lvm
    .command('history')
    .summary('every version of the VG text still in the metadata areas, what changed, and the thin LVs removed')
    .description(
      "LVM writes each new version of a VG's text after the last one in its PVs' metadata areas; older versions stay until the " +
        'circular buffer wraps round over them. Lists every version found (seqno, time, host, the command that made it), ' +
        'what changed between consecutive versions, and the thin LVs an older version has and the newest has not: ' +
        'their device ids, pools, sizes and origins. Only the newest text carries a checksum; older ones are shown only ' +
        'when they parse whole.\n\nExit status: 0 read, 1 problems found in the images (listed), 2 bad arguments.',
    )
    .argument('<images...>', 'disk images, PV images or block devices holding the VG')
    .option('--json', 'print {versions, removed, problems} as one JSON object')
    .action((images: string[], o: { json?: boolean }) =>
      run(() => {
        const h = lvmHistory(images);
        if (o.json) {
          const versions = h.versions.map((v) => ({
            vg: v.vg.name,
            seqno: v.vg.seqno,
            time: isoTime(v.time),
            host: v.host,
            description: v.description,
            committed: v.committed,
            foundIn: v.foundIn,
            lvs: [...v.vg.lvs.keys()],
            changes: v.changes,
          }));
          printJson({ versions, removed: h.deleted, problems: h.problems });
        } else process.stdout.write(formatHistory(h));
        return h.problems.length > 0 ? 1 : 0;
      }),
    );
  lvm
    .command('undelete')
    .summary('put back a thin LV lvremove took away: new pool metadata and a VG text for vgcfgrestore')
    .description(
      "Finds VG/LV among the thin LVs LVM's history says were removed, and writes two files, never the images: NEW, the pool's metadata with the device re-added " +
        "(only the blocks the evidence vouches for; see docs/recovery.md), and --vg-text FILE, LVM's newest VG text with the LV put back as it was. " +
        "NEW must exist with the size of the pool's metadata LV (the message says it). docs/recovery.md says how to put both in place.\n\n" +
        'Exit status: 0 both written, 1 the LV cannot be put back (nothing written), 2 bad arguments.',
    )
    .argument('<images-then-lv...>', 'disk images, then the removed LV as VG/LV')
    .requiredOption('-o, --output <metadata>', "new pool metadata (an existing file of the metadata LV's size)")
    .requiredOption('--vg-text <file>', 'the VG text to restore with vgcfgrestore --force -f FILE')
    .option('--as <id>', 'the device id to give it (default: its own)', parseThinIdArg)
    .option('--json', 'print what was done as one JSON object')
    .action((args: string[], o: { output: string; vgText: string; as?: number; json?: boolean }) =>
      run(() => {
        if (args.length < 2) throw new ArgumentError('give the disk images, then VG/LV');
        const images = args.slice(0, -1);
        const lv = args[args.length - 1];
        const r = undeleteLv(images, lv, o.output, o.vgText, { as: o.as });
        const vg = lv.split('/')[0];
        announce(
          o.json,
          `wrote ${o.output} (pool ${printable(r.pool)}'s metadata with device ${r.as}: ${r.mappings} mappings, ${r.leftOut} left out) and ${o.vgText}. ` +
            `With the pool inactive: keep LVM's current text (vgcfgbackup -f ${vg}.before ${vg}), vgcfgrestore --force -f ${o.vgText} ${vg}, ` +
            `then put ${o.output} in as the pool's metadata (an LV holding it; lvconvert --swapmetadata): docs/lvm.md has the commands`,
          { lv: r.lv, pool: r.pool, deviceId: r.deviceId, as: r.as, mappings: r.mappings, leftOut: r.leftOut, metadata: o.output, vgText: o.vgText },
          process.stderr,
        );
        return 0;
      }),
    );
  lvm
    .command('send')
    .summary('a thin LV as a dmthin stream, whole or since a base snapshot LV: read from the images, or through the kernel when they are an active pool')
    .description(
      "Writes VG/LV as a dmthin stream (docs/stream.md, as `dmthin send`), the LV's size from LVM's text. With --base VG/SNAP (a thin LV of the same pool), only what changed since SNAP. Apply it with `dmthin receive`.\n\n" +
        "Where the images are the disks of a pool the kernel has active (this VG, by its uuid; the disks, or files behind loop devices, under VG-POOL-tpool), the images are not read: the kernel rewrites that metadata as it runs. The LV is sent live instead, as `dmthin send VG-POOL-tpool ID` does (a metadata snapshot reserved and always released; the LV must not be active and writable: send a snapshot). Otherwise the pool's metadata and data are read in place from the images (an inactive pool, or a copy of one).\n\n" +
        'Exit status: 0 written, 1 an LV cannot be found or read, 2 bad arguments.',
    )
    .argument('<images-then-lv...>', 'disk images, then the thin LV as VG/LV')
    .option('--base <vg/lv>', 'an earlier snapshot (thin LV of the same pool) the receiver holds')
    .requiredOption('-o, --output <file>', 'stream file (created or replaced), or - for standard output')
    .option('--json', 'print what was sent as one JSON object (on stderr with -o -)')
    .action((args: string[], o: { base?: string; output: string; json?: boolean }) =>
      run(async () => {
        if (args.length < 2) throw new ArgumentError('give the disk images, then VG/LV');
        const images = args.slice(0, -1);
        const lv = must(args[args.length - 1], 'the VG/LV argument');
        // Two library calls, one scan: the plan's, which the send reads on from.
        const opened = openImages(images);
        let r: Awaited<ReturnType<typeof sendLv>>;
        try {
          const plan = planLvSend(opened, lv, o.base);
          if (plan.live) {
            // The kernel sends it: the images (the running pool's disks) are not read again.
            opened.close();
            return sendThinLive(plan.live, plan.id, {
              base: plan.baseId,
              size: plan.size,
              output: o.output,
              json: o.json,
              names: { lv, baseLv: o.base ?? null },
            });
          }
          r = await withOutputAsync(o.output, { inputs: images, binary: true, what: 'stream' }, (out) => sendLv(opened, lv, o.base, out.fd));
        } finally {
          opened.close();
        }
        announce(
          o.json,
          `sent ${lv}${r.baseLv ? ` since ${r.baseLv}` : ' (full)'}: ${r.dataBlocks} blocks of data, ${r.zeroBlocks} discarded, ${r.bytes} bytes`,
          { ...r, livePool: null },
          process.stderr,
          o.output,
        );
        return 0;
      }),
    );
  lvm
    .command('doctor')
    .summary("what is wrong with a thin pool inside the images, what is at risk, and the steps to fix it in lvm2's commands")
    .description(
      "Judges VG/POOL (every thin pool in the images when it is left out) as dmthin doctor does (docs/doctor.md), with the thin LVs' names and sizes, " +
        "and what only LVM shows: its transaction_id against the pool metadata's (transaction_id_mismatch: which side is ahead, by how much, " +
        "whether lvm2 will activate it) and a PV none of the images holds (missing_pv: which LVs lie on it). The plan is in lvm2's commands with the " +
        'real VG and LV names and sizes: vgcfgbackup first, the candidate blocks saved before anything activates the pool, the repaired metadata ' +
        'swapped in (lvcreate, dd, lvconvert --swapmetadata) or lvconvert --repair with dmthin as thin_repair, vgcfgrestore of the fixed VG text, ' +
        'the old metadata kept until the repaired pool is proven.\n\n' +
        'Nothing is written unless -o DIR asks for the kit of one pool (give VG/POOL).\n\n' +
        `${kitHelp()}\n\n` +
        'Exit status: 0 healthy, 1 problems found (or the images cannot be read), 2 bad arguments (a VG/POOL the images do not hold as a thin pool).',
    )
    .argument('<images...>', 'disk images, PV images or block devices holding the VG; then VG/POOL for one pool')
    .option('--json', 'print the report as one JSON object (several pools: {pools: [...]})')
    .option('-o, --output <dir>', 'write the kit into DIR, a new directory (needs VG/POOL)')
    .action((args: string[], o: DoctorFlags) =>
      run(() => {
        const last = args[args.length - 1];
        const pool = args.length >= 2 && isPoolArgument(last) ? last : undefined;
        const images = pool === undefined ? args : args.slice(0, -1);
        if (o.output !== undefined && pool === undefined) throw new ArgumentError('-o DIR writes the kit of one pool: give VG/POOL last');
        refuseKitDir(o.output);
        const tty = process.stderr.isTTY && !o.json;
        const onStage = tty ? (s: string) => process.stderr.write(`\r\x1b[K${s}...`) : undefined;
        const doctors = lvmDoctor(images, pool, {
          onStage,
          kit:
            o.output === undefined
              ? undefined
              : (d, src, diag) => writeDoctorKit(must(o.output, '-o DIR'), d.report, src, diag, (work) => lvmKitExtras(work, d)),
        });
        if (tty) process.stderr.write('\r\x1b[K');
        printDoctor(
          doctors.map((d) => d.report),
          o,
          pool !== undefined,
        );
        return doctorExit(doctors.map((d) => d.report));
      }),
    );
  registerPoolVerbs(lvm);
  registerLvmShrink(lvm);
}

function registerPoolVerbs(lvm: Command): void {
  lvm
    .command('export')
    .summary("an LV's bytes from the images, as the kernel reads them through LVM")
    .description(
      'Writes VG/LV to FILE: a thin LV rebuilt from its pool (metadata and data read in place from the images), ' +
        'a linear or striped LV copied through its segments. To a file the output is sparse; -o - streams it.\n\n' +
        'When a disk is gone for good, --partial writes what the other images hold, the bytes that lay on the missing PV as zeros, ' +
        'and lists those ranges: exit 1 when any of the LV was lost, 0 when none of it lay there.\n\n' +
        'Exit status: 0 success, 1 the LV cannot be found or read (or, with --partial, some of it was lost), 2 bad arguments.',
    )
    .argument('<images-then-lv...>', 'disk images, then the LV as VG/LV')
    .requiredOption('-o, --output <file>', 'output file (created or replaced), or - for standard output')
    .option('--deleted', "VG/LV is a thin LV lvremove took away: found by the name LVM's history gives it, exported as recovery does (docs/recovery.md)")
    .option('--include-unknown', 'with --deleted: write the blocks whose fate is unknown too')
    .option('--partial', 'a PV is missing or an image short: write what the images hold, the rest as zeros, and list what was lost (exit 1 if any)')
    .option('--json', 'print {kind, size, mapped_bytes, zero_bytes, runs, seconds} when done (with --partial: lost [{from, to}], lost_bytes, not_all_there)')
    .action((args: string[], o: { output: string; json?: boolean; deleted?: boolean; includeUnknown?: boolean; partial?: boolean }) =>
      run(() => {
        if (args.length < 2) throw new ArgumentError('give the disk images, then VG/LV');
        const images = args.slice(0, -1);
        const lv = args[args.length - 1];
        const tty = process.stderr.isTTY && !o.json;
        const t0 = Date.now();
        const onProgress = tty ? (done: number, total: number) => process.stderr.write(`\rexporting ${lv}: ${((100 * done) / total).toFixed(0)}%`) : undefined;
        if (o.includeUnknown && !o.deleted) throw new ArgumentError('--include-unknown goes with --deleted');
        if (o.partial && o.deleted)
          throw new ArgumentError('--partial is for an LV the VG still lists; a removed LV is exported from the pool as recovery finds it');
        if (o.deleted) {
          const r = exportDeletedLv(images, lv, o.output, { includeUnknown: o.includeUnknown, onProgress });
          if (tty) process.stderr.write('\r\x1b[K');
          const seconds = (Date.now() - t0) / 1000;
          if (o.json) printJson({ ...r, seconds }, o.output === '-' ? process.stderr : process.stdout, 0);
          else
            process.stderr.write(
              `exported removed thin LV ${lv} (device ${r.deviceId} of pool ${printable(r.pool)}): ${r.writtenBlocks} of its ${r.mappedBlocks} mapped blocks written ` +
                `(${r.intact} intact, ${r.shared} shared); ${r.withheldBlocks} left as zeros (${r.reallocated} reallocated since, ${r.unknown - r.unknownWritten} unknown); ${r.size} bytes\n`,
            );
          return 0;
        }
        const r = exportLv(images, lv, o.output, { partial: o.partial, onProgress });
        if (tty) process.stderr.write('\r\x1b[K');
        const seconds = (Date.now() - t0) / 1000;
        const stream = o.output === '-' ? process.stderr : process.stdout;
        const lostBytes = r.lost ? rangeBytes(r.lost) : 0;
        // Read: what the LV maps less what the images lacked (a damaged node's blocks are not mapped: not counted either way).
        const readBytes = r.mappedBytes - (r.unreadBytes ?? 0);
        if (o.json) printJson({ ...r, unreadBytes: undefined, ...(r.lost ? { lostBytes, readBytes } : {}), seconds }, stream, 0);
        else {
          stream.write(`exported ${lv} (${r.kind}): ${r.size} bytes, ${readBytes} read, ${r.zeroBytes} left as holes, in ${seconds.toFixed(2)} s\n`);
          if (r.notAllThere !== undefined && r.lost) stream.write(formatLost(lv, r.lost, r, r.notAllThere));
        }
        if (r.damage && !o.json) process.stderr.write(formatDamagedExport(lv, r.lost ?? [], r.damage, r.damage.doctor ?? 'dmthin lvm doctor', r));
        return lostBytes || r.damage ? 1 : 0;
      }),
    );
  lvm
    .command('diff')
    .summary('what changed between two thin LVs of a pool inside the images, in files (as docker diff)')
    .description(
      `${DIFF_DESCRIPTION}\n\nBoth LVs must be thin volumes of one pool (typically a snapshot, then its origin); their sizes are LVM's. The images are only read.`,
    )
    .argument('<images-then-lvs...>', 'disk images, PV images or block devices, then VG/LV before and VG/LV after')
    .option('--json', 'print {filesystem, changes[].{kind, path, inode, size_before, size_after}, changed_bytes, bytes_read}')
    .action((args: string[], o: { json?: boolean }) =>
      run(() => {
        if (args.length < 3) throw new ArgumentError('give the disk images, then VG/LV before and VG/LV after');
        const opened = openImages(args.slice(0, -2));
        try {
          const sides = lvDiffSides(opened, must(args.at(-2), 'VG/LV before'), must(args.at(-1), 'VG/LV after'));
          return withPoolSource(openPool(opened, sides.pool), (source) => diffAction(source, sides.before, sides.after, o));
        } finally {
          opened.close();
        }
      }),
    );
  for (const v of POOL_VERBS) {
    const cmd = lvm
      .command(v.name)
      .summary(v.summary)
      .description(`${v.description}\n\nVG/POOL's metadata LV is read in place from the images: nothing is copied out, and nothing is ever written into them.`)
      .argument('<images-then-pool...>', 'disk images, PV images or block devices, then the pool as VG/POOL');
    v.options(cmd).action((args: string[], o: Record<string, unknown>) => run(() => withPoolInput(args, (input) => v.action(input, o))));
  }
}

interface PoolVerb {
  name: string;
  summary: string;
  description: string;
  options: (cmd: Command) => Command;
  // biome-ignore lint/suspicious/noExplicitAny: each verb's own flags type, as commander parsed them
  action: (source: PoolSource, o: any) => number;
}

/** The thin commands that read a pool's metadata, each as `dmthin lvm VERB IMAGE... VG/POOL`. */
const POOL_VERBS: PoolVerb[] = [
  {
    name: 'check',
    summary: "check a pool's metadata inside the images, as dmthin check",
    description: CHECK_DESCRIPTION,
    options: (c) => checkOptions(c, false),
    action: checkAction,
  },
  {
    name: 'dump',
    summary: "print a pool's metadata inside the images, as dmthin dump",
    description: DUMP_DESCRIPTION,
    options: dumpOptions,
    action: dumpAction,
  },
  {
    name: 'delta',
    summary: 'what changed between two thin devices of a pool inside the images, as dmthin delta',
    description: DELTA_DESCRIPTION,
    options: deltaOptions,
    action: deltaAction,
  },
  {
    name: 'rmap',
    summary: 'which thin devices of a pool inside the images use given data blocks, as dmthin rmap',
    description: RMAP_DESCRIPTION,
    options: rmapOptions,
    action: rmapAction,
  },
  {
    name: 'repair',
    summary: "rebuild a pool's damaged metadata from the images into a new file, as dmthin repair",
    description: REPAIR_DESCRIPTION,
    options: repairOptions,
    action: (source: PoolSource, o: RepairFlags) => {
      // The one size that fits is the metadata LV's: say it, rather than "the metadata's size".
      if (!existsSync(o.output)) {
        throw new UsageError(
          `${o.output} does not exist: create it with the pool metadata's size first: truncate -s ${(source.metadata as LvSource).size} ${o.output}`,
        );
      }
      return repairAction(source, o);
    },
  },
  {
    name: 'metadata-resize',
    summary: "put a pool's metadata from the images into a larger or smaller metadata device, as dmthin metadata resize",
    description: LVM_RESIZE_DESCRIPTION,
    options: resizeOptions,
    // Removed LVs by their LVM names in the refusal, from LVM's history in the same images.
    action: (source: PoolSource, o: ResizeFlags) => {
      const lvm = source as OpenPool;
      return resizeAction(source, o, removedLvWords(lvm.images, lvm.vg, lvm.pool));
    },
  },
  {
    name: 'report',
    summary: 'an HTML report of a pool inside the images, as dmthin report',
    description: REPORT_DESCRIPTION,
    options: reportOptions,
    action: reportAction,
  },
];

/** IMAGE... VG/POOL: opens the pool in the images as the pool source a thin verb takes. */
function withPoolInput(args: readonly string[], use: (source: PoolSource) => number): number {
  const { images, pool } = splitPoolArgs(args);
  return withPoolSource(openPool(images, pool), use);
}

/** A problem as one line: its kind, VG/LV (names from the images, escaped here) and detail (escaped where it was written). */
function problemLine(p: LvmProblem): string {
  return `${p.kind}${p.vg ? ` ${printable(p.vg)}${p.lv ? `/${printable(p.lv)}` : ''}` : ''}: ${p.detail}`;
}

/** A VG text's creation_time (seconds) as ISO time, or undefined when absent or beyond what a date can be. */
function isoTime(seconds: number | undefined): string | undefined {
  if (seconds === undefined) return undefined;
  const d = new Date(seconds * 1000);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

/** What a partial export lost, for a person: how much, why, the first ranges, what they held, and where the rest are. */
function formatLost(lv: string, lost: readonly ByteRange[], holds: LostHolds, why: string): string {
  if (!lost.length) return `none of ${lv} lay where the images lack bytes (${why}): its copy is whole\n`;
  return `${lostLine(lv, lost, why)}\n${holdsText(holds)}`;
}

export function formatHistory(h: History): string {
  const lines: string[] = [];
  let vg = '';
  for (const v of h.versions) {
    if (v.vg.name !== vg) lines.push(`VG ${printable((vg = v.vg.name))}`);
    const when =
      isoTime(v.time)
        ?.replace('T', ' ')
        .replace(/\.\d+Z$/, 'Z') ?? (v.time === undefined ? '(no time)' : `(creation_time ${v.time}, not a time)`);
    const from = v.committed ? 'committed' : 'older copy, found in the buffer';
    lines.push(`  seqno ${v.vg.seqno}  ${when}  ${printable(v.host ?? '?')}  ${from}${v.description ? `: ${printable(v.description)}` : ''}`);
    const sign = { lv_added: '+', lv_removed: '-', lv_changed: '~' } as const;
    for (const c of v.changes) lines.push(`      ${sign[c.kind]} ${printable(c.lv)}`);
  }
  if (h.deleted.length) {
    lines.push('thin LVs removed (in an older version, not in the newest):');
    for (const r of h.deleted) {
      lines.push(
        `  ${printable(r.vg)}/${printable(r.name)}: device ${r.deviceId} in pool ${printable(r.pool)}, ${humanSize(r.size)}${r.origin ? `, snapshot of ${printable(r.origin)}` : ''}; last in seqno ${r.lastSeqno}${r.removedAt ? `, gone by ${r.removedAt}` : ''}`,
      );
    }
  }
  if (h.problems.length) {
    lines.push('problems:');
    for (const p of h.problems) lines.push(`  ${problemLine(p)}`);
  }
  return `${lines.join('\n')}\n`;
}

export function formatInventory(inv: Inventory): string {
  const lines: string[] = [];
  for (const vg of inv.vgs) {
    lines.push(`VG ${printable(vg.name)}  seqno ${vg.seqno}  extent ${humanSize(vg.extentSize)}`);
    for (const pv of vg.pvs) {
      const where = pv.file ? `${printable(pv.file)}${pv.offset ? ` at byte ${pv.offset}` : ''}` : '(missing)';
      lines.push(`  PV ${printable(pv.name)} ${printable(pv.uuid)} in ${where}: ${pv.peCount} extents from byte ${pv.peStart}`);
    }
    const rows = [['LV', 'TYPE', 'SIZE', 'POOL', 'ID', 'ORIGIN', 'MAPPED', '']];
    for (const lv of vg.lvs) {
      const notes = [
        lv.problem
          ? lv.type === 'thin' && lv.problem === 'unreadable_pool_data'
            ? `! may be lost in part: unreadable_pool_data (pool ${printable(lv.pool ?? '')}), below; lvm export --partial says what`
            : `! cannot be read whole: ${lv.problem}${lv.type === 'thin' && lv.problem !== 'bad_lv' ? ` (pool ${printable(lv.pool ?? '')})` : ''}, below`
          : '',
        lv.type === 'thin-pool'
          ? `chunk ${humanSize(lv.chunkSize ?? 0)}, transaction ${lv.transactionId} (metadata: ${lv.metadataTransactionId ?? 'unreadable'})`
          : '',
      ]
        .filter(Boolean)
        .join('; ');
      rows.push([
        lv.hidden ? `[${printable(lv.name)}]` : printable(lv.name),
        printable(lv.type),
        humanSize(lv.size),
        printable(lv.pool ?? ''),
        lv.deviceId?.toString() ?? '',
        printable(lv.origin ?? ''),
        lv.mappedBytes === undefined ? '' : humanSize(lv.mappedBytes),
        notes,
      ]);
    }
    for (const l of alignColumns(rows)) lines.push(`  ${l}`);
  }
  if (inv.problems.length) {
    lines.push('problems:');
    for (const p of inv.problems) lines.push(`  ${problemLine(p)}`);
  }
  return `${lines.join('\n')}\n`;
}
