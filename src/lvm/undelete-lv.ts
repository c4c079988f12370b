/**
 * `dmthin lvm undelete IMAGE... VG/LV`: a deleted thin LV put back, by the
 * name LVM's history gives it. Two outputs, neither written into the
 * images: new pool metadata with the device re-added (thin/recover/
 * undelete.ts: only the blocks the evidence vouches for), and a VG text for
 * vgcfgrestore: LVM's newest committed text with the LV's section from the
 * last version that had it, put back as it was (its device id changed only
 * with --as). The text is parsed again and must model the newest VG plus
 * that one thin LV, or nothing is written.
 *
 * The two outputs stand or fall together: the VG text is written (to its
 * temporary file, synced; a stream at once) before the metadata is
 * committed, and renamed into place only after it. A VG text that cannot
 * be written leaves the metadata output untouched, and a metadata write
 * that fails leaves no VG text.
 *
 * Refused, before anything is written, when the kernel runs the pool from
 * these images (running.ts, refuseRecoveryFromRunning).
 */
import { existsSync, fsyncSync, writeFileSync } from 'node:fs';
import { UsageError, must } from '../errors.js';
import { errnoWords } from '../io/files.js';
import { withOutput } from '../io/output-file.js';
import { Metadata } from '../thin/metadata.js';
import { scanDeleted } from '../thin/recover/scan-deleted.js';
import { type UndeleteResult, undelete } from '../thin/recover/undelete.js';
import { parseConfigText } from './config-text.js';
import { lastVersionWith, newestDeletion } from './history.js';
import { type ImageSet, withImages } from './images.js';
import { poolSources } from './open-pool.js';
import { type RunningProbe, refuseRecoveryFromRunning } from './running.js';
import { splitVgLv, vgNamed } from './scan.js';
import { volumeGroup } from './vg.js';

export interface LvUndelete extends UndeleteResult {
  lv: string;
  pool: string;
  /** The VG text to restore, for vgcfgrestore --force -f. */
  text: string;
}

/** Writes NEW metadata (`newMetadata`, an existing file or device of the metadata LV's size) and the VG text (`vgTextPath`), both or neither. */
export function undeleteLv(
  images: ImageSet,
  vgLv: string,
  newMetadata: string,
  vgTextPath: string,
  options: { as?: number; running?: RunningProbe } = {},
): LvUndelete {
  const { vg: vgName, lv: name } = splitVgLv(vgLv);
  return withImages(images, (opened) => {
    const paths = opened.paths;
    const h = opened.history();
    const deleted = newestDeletion(h, vgName, name);
    const old = must(lastVersionWith(h, vgName, name), `the last version of VG ${vgName} with ${name}`); // the version the deletion's lastSeqno names
    const a = vgNamed(opened.scan, vgName, paths);
    refuseRecoveryFromRunning({ vg: deleted.vg, vgId: a.vg.id, pool: deleted.pool }, paths, vgLv, options.running);
    if (a.vg.lvs.has(name)) throw new UsageError(`VG ${vgName} has an LV named ${name} again: rename it first, or restore under another name by hand`);
    const pool = poolSources(a, deleted.pool, `${vgLv}'s pool ${deleted.pool} is no longer a thin pool of VG ${vgName}`);
    const as = options.as ?? deleted.deviceId;
    const text = withLvSection(a.text, old.text, vgName, name, deleted.deviceId, as);
    // The text must model the newest VG plus this one thin LV, in the pool, with the id given.
    const model = volumeGroup(must(parseConfigText(text).section(vgName), `section ${vgName}`));
    const seg = model.lvs.get(name)?.segments[0];
    if (seg?.type !== 'thin' || seg.thinPool !== deleted.pool || seg.deviceId !== as || model.lvs.size !== a.vg.lvs.size + 1) {
      throw new UsageError(`the VG text with ${name} put back does not model what it should: not writing it`);
    }
    const tmeta = pool.metadata;
    if (!existsSync(newMetadata))
      throw new UsageError(`${newMetadata} does not exist: create it with the pool metadata's size first: truncate -s ${tmeta.size} ${newMetadata}`);
    const md = Metadata.open(tmeta);
    try {
      const scanned = scanDeleted(md.reader);
      return withOutput(vgTextPath, { inputs: [...paths, newMetadata], what: 'VG text' }, (out) => {
        try {
          writeFileSync(out.fd, text);
          if (out.seekable) fsyncSync(out.fd);
        } catch (e) {
          throw new UsageError(`cannot write the VG text to ${vgTextPath}: ${errnoWords(e)}; ${newMetadata} was not written`);
        }
        const r = undelete(md, scanned, deleted.deviceId, newMetadata, { as, inputs: [...paths, vgTextPath] });
        return { ...r, lv: vgLv, pool: deleted.pool, text };
      });
    } finally {
      md.close();
    }
  });
}

/** `current` with LV `name`'s section from `old` inserted at the end of logical_volumes (device_id from -> to). */
function withLvSection(current: string, old: string, vg: string, name: string, from: number, to: number): string {
  const section = lvSection(old, vg, name);
  if (!section) throw new UsageError(`the history's text of ${vg} has no section for ${name}: not writing a VG text`);
  let lines = section;
  if (to !== from) {
    lines = lines.map((l) => l.replace(new RegExp(`^(\\s*device_id\\s*=\\s*)${from}(\\s*)$`), `$1${to}$2`));
    if (!lines.some((l) => new RegExp(`^\\s*device_id\\s*=\\s*${to}\\s*$`).test(l)))
      throw new UsageError(`cannot set ${name}'s device_id in its section: not writing a VG text`);
  }
  const cur = current.split('\n');
  const end = sectionEnd(cur, [vg, 'logical_volumes']);
  if (end < 0) throw new UsageError(`LVM's text of ${vg} has no logical_volumes section: not writing a VG text`);
  cur.splice(end, 0, '', ...lines);
  const out = cur
    .join('\n')
    .replace(/^description = ".*"$/m, `description = "dmthin: thin LV ${name} put back (device ${to}), from the VG text of its last version"`);
  return out.endsWith('\n') ? out : `${out}\n`;
}

/** Lines of section [vg, logical_volumes, name] in `text`, braces included (LVM writes one statement a line). */
function lvSection(text: string, vg: string, name: string): string[] | undefined {
  const lines = text.split('\n');
  const path: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^\s*([^\s{}=#]+)\s*\{\s*$/.exec(lines[i]);
    if (open) {
      path.push(open[1]);
      if (path.length === 3 && path[0] === vg && path[1] === 'logical_volumes' && path[2] === name) {
        const depth = path.length;
        for (let j = i + 1; j < lines.length; j++) {
          if (/^\s*([^\s{}=#]+)\s*\{\s*$/.test(lines[j])) path.push('x');
          else if (/^\s*\}\s*$/.test(lines[j])) {
            path.pop();
            if (path.length === depth - 1) return lines.slice(i, j + 1);
          }
        }
        return undefined;
      }
    } else if (/^\s*\}\s*$/.test(lines[i])) path.pop();
  }
  return undefined;
}

/** Index of the closing-brace line of section `want` (a path from the top). */
function sectionEnd(lines: string[], want: string[]): number {
  const path: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^\s*([^\s{}=#]+)\s*\{\s*$/.exec(lines[i]);
    if (open) path.push(open[1]);
    else if (/^\s*\}\s*$/.test(lines[i])) {
      if (path.length === want.length && want.every((w, k) => path[k] === w)) return i;
      path.pop();
    }
  }
  return -1;
}
