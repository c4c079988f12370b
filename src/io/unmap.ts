/**
 * Gives byte ranges of a file or block device back: holes punched in a
 * file (fallocate PUNCH_HOLE | KEEP_SIZE), discards sent to a device
 * (BLKDISCARD). Node has neither call, and spawning `fallocate` or
 * `blkdiscard` once a range costs ~10 ms here (10,000 discarded runs would
 * take minutes), so one `perl` process (perl-base is on every Debian and
 * Red Hat system) makes all the calls from a list of ranges on its standard
 * input. Where perl is missing or the call is refused (a filesystem without
 * hole punching, a device without discard), the caller writes zeros.
 *
 * A punched hole always reads as zeros; a discarded device range need not
 * (dm-thin unmaps only whole pool blocks; some disks return old data), so
 * callers read device ranges back (`zeroOut`).
 */
import { spawnSync } from 'node:child_process';
import { isZero, readFull, writeFull } from './full-io.js';

/** fallocate(2)'s syscall number on the 64-bit architectures Node runs on (perl's syscall passes 64-bit offsets whole there). */
const FALLOCATE_NR: Partial<Record<NodeJS.Architecture, number>> = { x64: 285, arm64: 47, riscv64: 47, loong64: 47, ppc64: 309, s390x: 314 };
/** _IO(0x12, 119): linux/fs.h. */
const BLKDISCARD = 0x1277;

const SCRIPT = `
use strict;
my ($kind, $nr, $path) = @ARGV;
open(my $fh, '+<', $path) or die "open $path: $!\\n";
while (my $line = <STDIN>) {
  my ($off, $len) = split(' ', $line);
  if ($kind eq 'file') {
    syscall(0 + $nr, fileno($fh), 3, 0 + $off, 0 + $len) == 0 or die "fallocate $off+$len: $!\\n";
  } else {
    ioctl($fh, ${BLKDISCARD}, pack('QQ', $off, $len)) or die "BLKDISCARD $off+$len: $!\\n";
  }
}
`;

export type UnmapResult = { ok: true } | { ok: false; why: string };

/** Ranges as [offset, length] pairs in bytes. */
export function unmapRanges(path: string, kind: 'file' | 'device', ranges: Float64Array, count: number): UnmapResult {
  if (count === 0) return { ok: true };
  const nr = FALLOCATE_NR[process.arch];
  if (kind === 'file' && nr === undefined) return { ok: false, why: `no fallocate call known for ${process.arch}` };
  const lines: string[] = [];
  for (let i = 0; i < count; i++) lines.push(`${ranges[2 * i]} ${ranges[2 * i + 1]}\n`);
  const r = spawnSync('perl', ['-e', SCRIPT, kind, String(nr ?? 0), path], { input: lines.join(''), encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.error) return { ok: false, why: `perl: ${(r.error as NodeJS.ErrnoException).code ?? r.error.message}` };
  if (r.status !== 0) return { ok: false, why: (r.stderr || `perl exit ${r.status}`).trim().split('\n')[0] };
  return { ok: true };
}

/** Writes zeros over [offset, offset + length) wherever it does not already read as zeros; returns the bytes written. */
export function zeroOut(fd: number, offset: number, length: number, buf: Uint8Array, checkFirst: boolean): number {
  let written = 0;
  for (let off = 0; off < length; off += buf.length) {
    const n = Math.min(buf.length, length - off);
    if (checkFirst) {
      if (!readFull(fd, buf, n, offset + off)) throw new Error(`cannot read back ${n} bytes at ${offset + off}`);
      if (isZero(buf, n)) continue;
    }
    buf.fill(0, 0, n);
    writeFull(fd, buf, n, offset + off);
    written += n;
  }
  return written;
}
