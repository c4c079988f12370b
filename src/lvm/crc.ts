/**
 * LVM2's checksum (lib/misc/crc.c calc_crc): CRC-32 with the reflected
 * polynomial 0xEDB88320, started at 0xf597a6cf, with no inversion before
 * or after. Used for the label, the metadata area header and the VG text.
 * Standard CRC-32 inverts on both ends, so calc_crc(init, buf) is
 * ~crc32(buf, ~init) (checked on PVs made by lvm2 2.03.16).
 */
import CRC32 from 'crc-32';

export const LVM_CRC_INITIAL = 0xf597a6cf;

/** calc_crc(initial, buf); chain parts by passing the previous result as `initial`. */
export function lvmCrc(buf: Uint8Array, initial = LVM_CRC_INITIAL): number {
  return ~CRC32.buf(buf, ~initial) >>> 0;
}
