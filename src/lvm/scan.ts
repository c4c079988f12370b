/**
 * From disk images (or devices) to volume groups: every PV found in the
 * files given, each VG assembled from the newest committed text any of its
 * PVs holds (the highest seqno), its PVs matched by uuid to where they were
 * found. What cannot be read is a problem with a kind, never a throw.
 */
import { ArgumentError, UsageError, must } from '../errors.js';
import { ConfigSyntaxError, parseConfigText } from './config-text.js';
import { dashedUuid } from './label.js';
import { readPartitionTable } from '../format/partitions.js';
import { identify } from './signatures.js';
import { type FoundPv, PvFile, findPv } from './pv.js';
import type { PvLocations } from './lv-source.js';
import { type VolumeGroup, VgTextError, volumeGroup } from './vg.js';
import { printable } from './printable.js';

export interface LvmProblem {
  /** snake_case, stable: docs/lvm.md lists them. */
  kind: string;
  vg?: string;
  lv?: string;
  detail: string;
}

export interface AssembledVg {
  vg: VolumeGroup;
  /** PV key -> the image and offset it was found at. */
  pvs: PvLocations;
  /** PV keys of the VG no image holds. */
  missing: string[];
  /** The committed text the VG was read from (the newest seqno). */
  text: string;
}

export interface Scan {
  files: PvFile[];
  pvs: FoundPv[];
  vgs: AssembledVg[];
  problems: LvmProblem[];
  close(): void;
}

/** Opens each image and reads what LVM left in it. The caller closes the scan. */
export function scanImages(paths: readonly string[]): Scan {
  if (paths.length === 0) throw new UsageError('no disk image or device given');
  const files: PvFile[] = [];
  const close = (): void => {
    for (const f of files) f.close();
  };
  const scan: Scan = { files, pvs: [], vgs: [], problems: [], close };
  try {
    for (const p of paths) files.push(new PvFile(p));
  } catch (e) {
    scan.close();
    throw e;
  }
  // A PV at the start of the file, or else in any partition of a whole-disk image.
  // What a file or partition without a PV holds, named (a qcow2 image, ext4, ...).
  const others: string[] = [];
  const where = new Map<FoundPv, string>();
  const look = (f: PvFile, start: number, size: number, name: string): boolean => {
    const sig = identify((o, n) => f.read(start + o, n, 'signature'), size, start === 0);
    if (sig?.kind === 'encrypted' || sig?.kind === 'container') {
      scan.problems.push({ kind: sig.kind === 'encrypted' ? 'encrypted' : 'disk_image_format', detail: `${name} is ${sig.what}` });
      return true;
    }
    const pv = findPv(f, start, size);
    if (!pv) {
      if (sig) others.push(`${name} is ${sig.what}`);
      return false;
    }
    if ('problem' in pv) {
      scan.problems.push({ kind: 'bad_label', detail: pv.problem });
      return true;
    }
    scan.pvs.push(pv);
    where.set(pv, name);
    if (pv.label.deviceSize > pv.size)
      scan.problems.push({
        kind: 'truncated_pv',
        detail: `${name}: the PV's label (pv_header device_size) says ${pv.label.deviceSize} bytes, the image holds ${pv.size}: it is truncated, and what lies past byte ${pv.size} of it cannot be read`,
      });
    for (const m of pv.metadataAreas) if (m.problem) scan.problems.push({ kind: 'bad_metadata_area', detail: `${name}: ${m.problem}` });
    return true;
  };
  for (const f of files) {
    others.length = 0;
    if (look(f, 0, f.fileSize, f.path)) continue;
    const table = readPartitionTable((o, n) => f.read(o, n, 'partition table'), f.fileSize);
    let found = false;
    for (const p of table?.partitions ?? []) found = look(f, p.start, p.size, `${f.path} partition ${p.number}`) || found;
    for (const note of table?.notes ?? []) scan.problems.push({ kind: 'partition_not_read', detail: `${f.path}: ${note}` });
    if (!found) {
      const scheme = table?.partitions[0] ? `${table.partitions[0].scheme} ` : '';
      const where = table ? ` nor in any of its ${table.partitions.length} ${scheme}partitions` : '';
      const seen = others.splice(0).join('; ');
      scan.problems.push({ kind: 'no_pv', detail: `${f.path}: no LVM label in its first four sectors${where}${seen ? ` (${seen})` : ''}` });
    }
  }
  // The newest text of each VG, by seqno, whichever PV holds it; every area's own seqno, to name those left behind.
  const newest = new Map<string, { vg: VolumeGroup; text: string }>();
  const areaSeqnos: Array<{ id: string; seqno: number; where: string }> = [];
  for (const pv of scan.pvs) {
    for (const m of pv.metadataAreas) {
      if (!m.text) continue;
      let vg: VolumeGroup | undefined;
      try {
        const top = parseConfigText(m.text);
        const name = top.order.find((n) => top.sections.has(n));
        if (name) vg = volumeGroup(must(top.sections.get(name), `section ${name}`));
      } catch (e) {
        // The text's own faults are problems; anything else is dmthin's bug and must not pass as one.
        if (!(e instanceof ConfigSyntaxError || e instanceof VgTextError)) throw e;
        const text = `${where.get(pv)} metadata area at byte ${m.area.offset}, committed text`;
        // The parser escapes what it quotes; the VG model's messages carry names as read.
        const why = e instanceof ConfigSyntaxError ? e.message : printable(e.message);
        scan.problems.push({ kind: 'bad_vg_text', detail: `${text}: ${why}` });
        continue;
      }
      if (!vg) continue;
      areaSeqnos.push({ id: vg.id || vg.name, seqno: vg.seqno, where: `${where.get(pv)} metadata area at byte ${pv.start + m.area.offset}` });
      const seen = newest.get(vg.id || vg.name);
      if (!seen || vg.seqno > seen.vg.seqno) newest.set(vg.id || vg.name, { vg, text: m.text });
    }
  }
  // An area behind the newest text: a write of the VG stopped between PVs (lvm2 warns "Inconsistent metadata found" and reads the newest).
  for (const a of areaSeqnos) {
    const n = newest.get(a.id);
    if (n && a.seqno < n.vg.seqno)
      scan.problems.push({
        kind: 'old_metadata_area',
        vg: n.vg.name,
        detail: `${a.where} holds seqno ${a.seqno}, the VG's newest is ${n.vg.seqno} (a write of the VG stopped part way): the newest is read; vgck --updatemetadata ${printable(n.vg.name)} writes it there too (or run again the dmthin lvm shrink that was stopped)`,
      });
  }
  for (const { vg, text } of newest.values()) {
    const pvs = new Map<string, { file: PvFile; start: number }>();
    const missing: string[] = [];
    for (const ref of vg.pvs) {
      const found = scan.pvs.find((p) => dashedUuid(p.label.uuid) === ref.id);
      const file = found && files.find((f) => f.path === found.file);
      if (found && file) pvs.set(ref.key, { file, start: found.start });
      else {
        missing.push(ref.key);
        scan.problems.push({
          kind: 'missing_pv',
          vg: vg.name,
          detail: `${printable(ref.key)} (${printable(ref.id)}, last seen as ${printable(ref.device ?? '?')}) is in none of the images given: add the image that holds it`,
        });
      }
    }
    scan.vgs.push({ vg, pvs, missing, text });
  }
  return scan;
}

/** "VG/LV" split, or a UsageError; `what` names the second part in the message ("POOL", "LV"). */
export function splitVgLv(text: string, what = 'LV'): { vg: string; lv: string } {
  const m = /^([^/\s]+)\/([^/\s]+)$/.exec(text);
  if (!m)
    throw new ArgumentError(`'${printable(text)}' is not VG/${what}: give the VG's name and the LV's, as lvs shows them (dmthin lvm ls IMAGE... lists them)`);
  // A hidden LV as lvs -a and lvm ls print it, in brackets ([pool_tmeta]), is the LV of that name.
  const hidden = /^\[([^\]]+)\]$/.exec(m[2]);
  return { vg: m[1], lv: hidden ? hidden[1] : m[2] };
}

/**
 * The words after "no LV X in VG V" or "X is not a thin LV": which LVs of
 * the VG would do (those `fits`, visible ones; the first 12), and where
 * they are all listed.
 */
export function whichLvs(vg: AssembledVg['vg'], images: readonly string[], fits: (l: { segments: Array<{ type: string }> }) => boolean, what = 'LVs'): string {
  const names = [...vg.lvs.values()].filter((l) => l.visible && !l.defect && fits(l)).map((l) => printable(l.name));
  const shown = names.length > 12 ? `${names.slice(0, 12).join(', ')}, ...` : names.join(', ');
  return `${names.length ? `its ${what}: ${shown}` : `it has no ${what}`}; dmthin lvm ls ${images.map(printable).join(' ')} lists every LV`;
}

/** The VG named `name` in a scan, or a UsageError saying which VGs the images hold. */
export function vgNamed(scan: Scan, name: string, images: readonly string[]): AssembledVg {
  const a = scan.vgs.find((v) => v.vg.name === name);
  if (a) return a;
  const found = scan.vgs.map((v) => v.vg.name);
  // A VG text the images hold but that could not be read may be this VG's: say why beside the refusal.
  const unread = scan.problems.filter((p) => p.kind === 'bad_vg_text' || p.kind === 'bad_metadata_area').map((p) => p.detail);
  // An image with no PV at all, named for what it holds (a raw pool's metadata, a filesystem): the likely mistake.
  const noPv = scan.problems.filter((p) => p.kind === 'no_pv').map((p) => p.detail);
  throw new UsageError(
    `no VG ${printable(name)} in ${images.join(', ')}${found.length ? ` (found: ${found.map(printable).join(', ')})` : ''}` +
      `${unread.length ? `; VG text the images hold could not be read: ${unread.join('; ')}` : ''}` +
      `${noPv.length ? `; ${noPv.join('; ')}` : ''}`,
  );
}
