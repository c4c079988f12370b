import type { Command } from 'commander';
import { humanSize } from '../format/units.js';
import { type Inventory, lvmInventory } from '../lvm/inventory.js';
import { printJson, run } from './util.js';

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
}

export function formatInventory(inv: Inventory): string {
  const lines: string[] = [];
  for (const vg of inv.vgs) {
    lines.push(`VG ${vg.name}  seqno ${vg.seqno}  extent ${humanSize(vg.extentSize)}`);
    for (const pv of vg.pvs) lines.push(`  PV ${pv.name} ${pv.uuid} in ${pv.file || '(missing)'}: ${pv.peCount} extents from byte ${pv.peStart}`);
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
