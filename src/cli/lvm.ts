import { type Command, Option } from 'commander';
import { ArgumentError } from '../errors.js';
import { humanSize } from '../format/units.js';
import { Output } from '../io/output.js';
import { withOutput } from '../io/output-file.js';
import { type Inventory, lvmInventory } from '../lvm/inventory.js';
import { openPool } from '../lvm/open-pool.js';
import { exportLv } from '../lvm/export-lv.js';
import { check } from '../thin/check/check.js';
import { type DumpFormat, dumpToOutput } from '../thin/dump/dump-format.js';
import { Metadata } from '../thin/metadata.js';
import { formatFinding } from './check.js';
import { printJson, run } from './util.js';

/** IMAGE... VG/POOL: the last argument names the pool. */
function splitPoolArgs(args: readonly string[]): { images: string[]; pool: string } {
  if (args.length < 2) throw new ArgumentError('give the disk images, then VG/POOL');
  return { images: args.slice(0, -1), pool: args[args.length - 1] };
}

export function register(program: Command): void {
  const lvm = program.command('lvm').description('LVM thin pools read straight from disk images and devices, without lvm2 or device-mapper');
  lvm
    .command('ls')
    .summary('like lvs -a: VGs, PVs and every LV found in the images')
    .description(
      'Finds the LVM physical volumes in the files or devices given, assembles each volume group from its newest metadata, ' +
        "and lists every LV (hidden ones in brackets). For thin pools it reads the pool's own metadata too and reports where " +
        'it and LVM disagree. Nothing is written.\n\nExit status: 0 nothing wrong, 1 problems found (listed), 2 bad arguments.',
    )
    .argument('<image...>', 'disk images, PV images or block devices holding the VG')
    .option('--json', 'print {vgs, problems} as one JSON object')
    .action((images: string[], o: { json?: boolean }) =>
      run(() => {
        const inv = lvmInventory(images);
        if (o.json) printJson(inv);
        else process.stdout.write(formatInventory(inv));
        return inv.problems.length > 0 ? 1 : 0;
      }),
    );
  registerPoolVerbs(lvm);
}

function registerPoolVerbs(lvm: Command): void {
  lvm
    .command('export')
    .summary("an LV's bytes from the images, as the kernel reads them through LVM")
    .description(
      'Writes VG/LV to FILE: a thin LV rebuilt from its pool (metadata and data read in place from the images), ' +
        'a linear or striped LV copied through its segments. To a file the output is sparse; -o - streams it.\n\n' +
        'Exit status: 0 success, 1 the LV cannot be found or read, 2 bad arguments.',
    )
    .argument('<images-then-lv...>', 'disk images, then the LV as VG/LV')
    .requiredOption('-o, --output <file>', 'output file (created or replaced), or - for standard output')
    .option('--json', 'print {kind, size, mapped_bytes, zero_bytes, runs, seconds} when done')
    .action((args: string[], o: { output: string; json?: boolean }) =>
      run(() => {
        if (args.length < 2) throw new ArgumentError('give the disk images, then VG/LV');
        const images = args.slice(0, -1);
        const lv = args[args.length - 1];
        const tty = process.stderr.isTTY && !o.json;
        const t0 = Date.now();
        const r = withOutput(o.output, { inputs: images, binary: true, what: 'image' }, (out) =>
          exportLv(images, lv, out.fd, tty ? (done, total) => process.stderr.write(`\rexporting ${lv}: ${((100 * done) / total).toFixed(0)}%`) : undefined),
        );
        if (tty) process.stderr.write('\r\x1b[K');
        const seconds = (Date.now() - t0) / 1000;
        const stream = o.output === '-' ? process.stderr : process.stdout;
        if (o.json) printJson({ ...r, seconds }, stream, 0);
        else stream.write(`exported ${lv} (${r.kind}): ${r.size} bytes, ${r.mappedBytes} read, ${r.zeroBytes} left as holes, in ${seconds.toFixed(2)} s\n`);
        return 0;
      }),
    );
  lvm
    .command('check')
    .summary("check a thin pool's metadata inside the images, as dmthin check")
    .description(
      "Reads VG/POOL's metadata LV in place from the images (nothing is copied out or written) and checks it as `dmthin check` does.\n\n" +
        'Exit status: 0 clean, 1 errors found (or the pool cannot be found), 2 bad arguments.',
    )
    .argument('<images-then-pool...>', 'disk images, then the pool as VG/POOL')
    .option('-q, --quiet', 'print nothing; the exit status says it all')
    .option('--json', 'print the result as one JSON object')
    .action((args: string[], o: { quiet?: boolean; json?: boolean }) =>
      run(() => {
        const { images, pool } = splitPoolArgs(args);
        const p = openPool(images, pool);
        try {
          const r = check(p.metadata);
          const code = r.ok && r.findings.every((f) => f.severity === 'note') ? 0 : 1;
          if (o.json) printJson({ pool: p.name, ...r, exitCode: code });
          else if (!o.quiet) {
            for (const f of r.findings) process.stderr.write(`${formatFinding(f)}\n`);
            if (r.transactionId !== undefined) process.stdout.write(`TRANSACTION_ID=${r.transactionId}\n`);
            if (r.metadataFreeBlocks !== undefined) process.stdout.write(`METADATA_FREE_BLOCKS=${r.metadataFreeBlocks}\n`);
          }
          return code;
        } finally {
          p.close();
        }
      }),
    );
  lvm
    .command('dump')
    .summary("print a thin pool's metadata inside the images, as dmthin dump")
    .description(
      "Reads VG/POOL's metadata LV in place from the images and prints it as `dmthin dump` does (XML byte-identical to thin_dump).\n\n" +
        'Exit status: 0 success, 1 the pool cannot be found or its metadata read, 2 bad arguments.',
    )
    .argument('<images-then-pool...>', 'disk images, then the pool as VG/POOL')
    .addOption(new Option('-f, --format <format>', 'output format').choices(['xml', 'human_readable', 'json']).default('xml'))
    .option('--json', 'the same as --format json')
    .option('-o, --output <file>', 'write to FILE instead of standard output')
    .action((args: string[], o: { format: DumpFormat; json?: boolean; output?: string }) =>
      run(() => {
        const { images, pool } = splitPoolArgs(args);
        const p = openPool(images, pool);
        try {
          const md = Metadata.open(p.metadata);
          try {
            withOutput(o.output ?? '-', { inputs: images, what: 'dump' }, (file) => {
              const out = new Output(file.fd);
              dumpToOutput(md, out, o.json ? 'json' : o.format);
              out.flush();
            });
          } finally {
            md.close();
          }
        } finally {
          p.close();
        }
        return 0;
      }),
    );
}

export function formatInventory(inv: Inventory): string {
  const lines: string[] = [];
  for (const vg of inv.vgs) {
    lines.push(`VG ${vg.name}  seqno ${vg.seqno}  extent ${humanSize(vg.extentSize)}`);
    for (const pv of vg.pvs) {
      const where = pv.file ? `${pv.file}${pv.offset ? ` at byte ${pv.offset}` : ''}` : '(missing)';
      lines.push(`  PV ${pv.name} ${pv.uuid} in ${where}: ${pv.peCount} extents from byte ${pv.peStart}`);
    }
    const rows = [['LV', 'TYPE', 'SIZE', 'POOL', 'ID', 'ORIGIN', 'MAPPED', '']];
    for (const lv of vg.lvs) {
      const notes =
        lv.type === 'thin-pool'
          ? `chunk ${humanSize(lv.chunkSize ?? 0)}, transaction ${lv.transactionId} (metadata: ${lv.metadataTransactionId ?? 'unreadable'})`
          : '';
      rows.push([
        lv.hidden ? `[${lv.name}]` : lv.name,
        lv.type,
        humanSize(lv.size),
        lv.pool ?? '',
        lv.deviceId?.toString() ?? '',
        lv.origin ?? '',
        lv.mappedBytes === undefined ? '' : humanSize(lv.mappedBytes),
        notes,
      ]);
    }
    const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
    for (const r of rows)
      lines.push(
        `  ${r
          .map((c, i) => c.padEnd(widths[i]))
          .join('  ')
          .trimEnd()}`,
      );
  }
  if (inv.problems.length) {
    lines.push('problems:');
    for (const p of inv.problems) lines.push(`  ${p.kind}${p.vg ? ` ${p.vg}${p.lv ? `/${p.lv}` : ''}` : ''}: ${p.detail}`);
  }
  return `${lines.join('\n')}\n`;
}
