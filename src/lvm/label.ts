/**
 * The LVM2 physical volume label (lib/label/label.h, lib/format_text/layout.h),
 * in one of the first four 512-byte sectors (LVM writes sector 1):
 * ```
 * label_header, 32 bytes
 *  0 char[8] id         "LABELONE"
 *  8 u64 sector_xl      the sector it sits in
 * 16 u32 crc_xl         LVM crc (crc.ts) of bytes [20, 512) of the sector
 * 20 u32 offset_xl      where pv_header starts in the sector (32)
 * 24 char[8] type       "LVM2 001"
 * pv_header, at offset_xl
 *  0 char[32] pv_uuid   without dashes (VG text shows them 6-4-4-4-4-4-6)
 * 32 u64 device_size_xl bytes
 * 40     data areas     {u64 offset, u64 size} (bytes), ended by {0, 0}
 *        metadata areas {u64 offset, u64 size}, ended by {0, 0}
 *        extension      u32 version, u32 flags (1: PV in use by a VG),
 *                       bootloader areas {u64 offset, u64 size}, ended by {0, 0}
 * ```
 * All little-endian. A data area's size 0 means "to the end of the device".
 * Checked against PVs made by lvm2 2.03.16 (extension version 2).
 */
import { getU32, getU64, getU64Big, setU32, setU64 } from '../format/le.js';
import { lvmCrc } from './crc.js';

export const SECTOR_SIZE = 512;
/** LVM looks for the label in sectors 0..3. */
export const LABEL_SCAN_SECTORS = 4;
export const LABEL_ID = 'LABELONE';
export const LABEL_TYPE = 'LVM2 001';
export const PV_EXT_USED = 1;

export interface DiskArea {
  /** Bytes from the start of the PV. */
  offset: number;
  /** Bytes; 0 for a data area means "to the end". */
  size: number;
}

export interface PvLabel {
  /** The sector the label sits in. */
  sector: number;
  /** 32 characters, no dashes. */
  uuid: string;
  deviceSize: number;
  dataAreas: DiskArea[];
  metadataAreas: DiskArea[];
  /** Absent in PVs written before lvm2 2.02.110. */
  extension?: { version: number; flags: number; bootloaderAreas: DiskArea[] };
}

const ascii = (b: Uint8Array, off: number, n: number): string => Buffer.from(b.subarray(off, off + n)).toString('latin1');

/** A u64 field as its exact decimal (a JS number rounds above 2^53). */
const u64Text = (b: Uint8Array, off: number): string => getU64Big(b, off).toString();

/** Whether `sector` (512 bytes) starts with "LABELONE". */
export function hasLabel(sector: Uint8Array): boolean {
  return ascii(sector, 0, 8) === LABEL_ID;
}

/**
 * Parses the label in `sector` (512 bytes read from sector `at`). Returns
 * why it is unusable as a string (the caller names the file and offset).
 */
export function parseLabel(sector: Uint8Array, at: number): PvLabel | string {
  if (!hasLabel(sector)) return 'no LABELONE';
  const sectorXl = getU64(sector, 8);
  if (sectorXl !== at) return `label says it is in sector ${u64Text(sector, 8)}`;
  const stored = getU32(sector, 16);
  const crc = lvmCrc(sector.subarray(20, SECTOR_SIZE));
  if (stored !== crc) return `bad label checksum: stored 0x${stored.toString(16)}, computed 0x${crc.toString(16)}`;
  const type = ascii(sector, 24, 8);
  if (type !== LABEL_TYPE) return `label type "${type}" is not "${LABEL_TYPE}"`;
  const off = getU32(sector, 20);
  if (off < 32 || off + 40 > SECTOR_SIZE) return `label offset_xl ${off}: pv_header outside the sector (expected 32 to ${SECTOR_SIZE - 40})`;
  let p = off + 40;
  // Each list is bounded by the sector; each value by what a byte offset in a JS number can be (2^53: 8 PiB).
  const list = (what: string): DiskArea[] | string => {
    const areas: DiskArea[] = [];
    for (;;) {
      if (p + 16 > SECTOR_SIZE) return `pv_header ${what} list at byte ${p} runs past the end of the label sector (no {0, 0} entry ends it)`;
      const offset = getU64(sector, p);
      const size = getU64(sector, p + 8);
      p += 16;
      if (offset === 0 && size === 0) return areas;
      if (!Number.isSafeInteger(offset + size))
        return `pv_header ${what} ${areas.length}: offset ${u64Text(sector, p - 16)}, size ${u64Text(sector, p - 8)} bytes (expected a range below 2^53 bytes)`;
      areas.push({ offset, size });
    }
  };
  const dataAreas = list('data area');
  if (typeof dataAreas === 'string') return dataAreas;
  const metadataAreas = list('metadata area');
  if (typeof metadataAreas === 'string') return metadataAreas;
  const deviceSize = getU64(sector, off + 32);
  if (!Number.isSafeInteger(deviceSize)) return `pv_header device_size ${u64Text(sector, off + 32)} bytes (expected below 2^53)`;
  const label: PvLabel = { sector: at, uuid: ascii(sector, off, 32), deviceSize, dataAreas, metadataAreas };
  if (p + 8 <= SECTOR_SIZE) {
    const version = getU32(sector, p);
    const flags = getU32(sector, p + 4);
    if (version !== 0) {
      p += 8;
      const bootloaderAreas = list('bootloader area');
      if (typeof bootloaderAreas === 'string') return bootloaderAreas;
      label.extension = { version, flags, bootloaderAreas };
    }
  }
  return label;
}

/** The 512-byte sector holding `label` (for tests and for writing images). */
export function writeLabel(label: PvLabel): Uint8Array {
  const b = new Uint8Array(SECTOR_SIZE);
  b.set(Buffer.from(LABEL_ID, 'latin1'), 0);
  setU64(b, 8, label.sector);
  setU32(b, 20, 32);
  b.set(Buffer.from(LABEL_TYPE, 'latin1'), 24);
  b.set(Buffer.from(label.uuid.padEnd(32, '\0').slice(0, 32), 'latin1'), 32);
  setU64(b, 64, label.deviceSize);
  let p = 72;
  const list = (areas: readonly DiskArea[]): void => {
    for (const a of [...areas, { offset: 0, size: 0 }]) {
      setU64(b, p, a.offset);
      setU64(b, p + 8, a.size);
      p += 16;
    }
  };
  list(label.dataAreas);
  list(label.metadataAreas);
  if (label.extension) {
    setU32(b, p, label.extension.version);
    setU32(b, p + 4, label.extension.flags);
    p += 8;
    list(label.extension.bootloaderAreas);
  }
  setU32(b, 16, lvmCrc(b.subarray(20)));
  return b;
}

/** "7rbD9eeF7N..." as the VG text writes it: "7rbD9e-eF7N-SGg3-PGdr-Nftl-pHdK-I9w2Qf". */
export function dashedUuid(uuid: string): string {
  const cuts = [6, 4, 4, 4, 4, 4, 6];
  const parts: string[] = [];
  let at = 0;
  for (const n of cuts) {
    parts.push(uuid.slice(at, at + n));
    at += n;
  }
  return parts.join('-');
}
