/**
 * Hostile VG texts on PVs lvm2 made: a copy of a PV image whose committed
 * VG text (in every metadata area that holds one) is edited and written
 * back as LVM would have written it (the raw_locn's size and checksum, the
 * mda header's checksum), so that a reader gets past every checksum and
 * meets the edited values themselves.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, truncateSync, writeSync } from 'node:fs';
import { lvmCrc } from '../../src/lvm/crc.js';
import { MDA_HEADER_SIZE, writeMdaHeader } from '../../src/lvm/mda-header.js';
import { PvFile, findPv } from '../../src/lvm/pv.js';

/** The committed VG text of the PV image at `path` (its first metadata area's). */
export function committedVgText(path: string): string {
  const f = new PvFile(path);
  try {
    const pv = findPv(f);
    const text = pv && !('problem' in pv) ? pv.metadataAreas.find((m) => m.text !== undefined)?.text : undefined;
    if (text === undefined) throw new Error(`${path}: no committed VG text`);
    return text;
  } finally {
    f.close();
  }
}

/**
 * Copies the PV image `src` to `dst` (sparse) with its committed VG text
 * replaced by `edit(text)`; `edit` must change it. The new text is written
 * where the old one was, or right after the area's header when it would not
 * fit there (LVM's circular buffer allows both).
 */
export function withEditedVgText(src: string, dst: string, edit: (text: string) => string): string {
  execFileSync('cp', ['--sparse=always', src, dst]);
  const f = new PvFile(dst);
  let pv: ReturnType<typeof findPv>;
  try {
    pv = findPv(f);
  } finally {
    f.close();
  }
  if (!pv || 'problem' in pv) throw new Error(`${src}: no usable PV label`);
  const fd = openSync(dst, 'r+');
  try {
    let edited = 0;
    for (const m of pv.metadataAreas) {
      if (m.text === undefined || !m.header) continue;
      const changed = edit(m.text);
      if (changed === m.text) throw new Error(`${src}: the edit left the VG text as it was`);
      const bytes = Buffer.from(`${changed}\0`, 'utf8');
      const h = m.header;
      const l = h.locns[0];
      if (bytes.length > h.size - MDA_HEADER_SIZE) throw new Error(`${src}: an edited text of ${bytes.length} bytes does not fit the ${h.size}-byte area`);
      const offset = l.offset + bytes.length <= h.size ? l.offset : MDA_HEADER_SIZE;
      writeSync(fd, bytes, 0, bytes.length, pv.start + m.area.offset + offset);
      h.locns[0] = { ...l, offset, size: bytes.length, checksum: lvmCrc(bytes) };
      writeSync(fd, writeMdaHeader(h), 0, MDA_HEADER_SIZE, pv.start + m.area.offset);
      edited++;
    }
    if (edited === 0) throw new Error(`${src}: no metadata area with a committed text`);
  } finally {
    closeSync(fd);
  }
  return dst;
}

/** A copy of `src` cut to `bytes` (sparse): a PV image shorter than its label says. */
export function truncatedCopy(src: string, dst: string, bytes: number): string {
  execFileSync('cp', ['--sparse=always', src, dst]);
  truncateSync(dst, bytes);
  return dst;
}
