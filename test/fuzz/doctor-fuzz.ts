/**
 * The doctor fuzzer: the kernel-made snapshots fixture damaged with a seed
 * (the same generator as the repair fuzzer), then diagnosed. A case fails
 * when diagnose throws anything but a typed error, when the report does
 * not hold together (ranges out of order or overlapping, a candidate's
 * offset not its block times the block size, more written bytes lost
 * than lost bytes, a healthy verdict with a problem above info), or when
 * damage to a block the trees use leaves the pool called healthy.
 *
 *   FUZZ_CASES=500 node dist/test/fuzz/doctor-fuzz.js
 *   FUZZ_SEED=1                         (first seed)
 *
 * Exits 1 when any case failed.
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../../src/errors.js';
import { MetadataError } from '../../src/format/errors.js';
import { parseSuperblock } from '../../src/format/superblock.js';
import { diagnose } from '../../src/thin/doctor/diagnose.js';
import type { DoctorReport } from '../../src/thin/doctor/report.js';
import { filesSource } from '../../src/thin/pool-source.js';
import { readBlock } from '../support/damage.js';
import { damage, liveBlocks, usedBlocks } from '../support/damage-generator.js';
import { unpackKernelFixture } from '../support/fixtures.js';

function judge(r: DoctorReport, bs: number): string[] {
  const bad: string[] = [];
  if (r.healthy !== !r.problems.some((p) => p.severity !== 'info')) bad.push('healthy disagrees with the problems');
  for (const d of r.devices) {
    let end = -1;
    let total = 0;
    for (const x of d.lost) {
      if (!(x.offset > end && x.length > 0 && Number.isSafeInteger(x.offset + x.length)))
        bad.push(`thin device ${d.deviceId}: lost range ${x.offset}+${x.length} out of order`);
      end = x.offset + x.length;
      total += x.length;
    }
    if (d.lostMappedBytes !== undefined && d.lostMappedBytes > total)
      bad.push(`thin device ${d.deviceId}: ${d.lostMappedBytes} written bytes lost of ${total}`);
  }
  for (const c of r.candidates) if (c.offset !== c.dataBlock * bs) bad.push(`candidate ${c.dataBlock} at ${c.offset}`);
  return bad;
}

function main(): void {
  const cases = Number(process.env.FUZZ_CASES ?? 200);
  const first = Number(process.env.FUZZ_SEED ?? 1);
  const dir = mkdtempSync(join(tmpdir(), 'dmthin-doctor-fuzz-'));
  let faults = 0;
  try {
    const pristine = unpackKernelFixture(dir);
    const bs = parseSuperblock(readBlock(pristine, 0)).dataBlockSize * 512;
    const used = usedBlocks(pristine);
    const live = liveBlocks(pristine);
    const liveSet = new Set(live);
    const path = join(dir, 'case.meta');
    for (let seed = first; seed < first + cases; seed++) {
      copyFileSync(pristine, path);
      const d = damage(pristine, path, used, seed, live);
      const failures: string[] = [];
      try {
        const r = diagnose(filesSource(path));
        failures.push(...judge(r, bs));
        // A flipped bit or a zeroed block the trees use always shows (the checksum covers the whole block).
        if (r.healthy && (d.kind === 'bit-flip' || d.kind === 'zeroed') && liveSet.has(d.block)) failures.push('a live block damaged, the pool called healthy');
      } catch (e) {
        if (!(e instanceof UsageError || e instanceof MetadataError)) failures.push(`threw ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
      }
      if (failures.length > 0) {
        faults++;
        process.stderr.write(`seed ${seed} (${d.kind} of ${d.blockKind} block ${d.block}): ${failures.join('; ')}\n`);
      }
      if (process.stderr.isTTY) process.stderr.write(`\r${seed - first + 1}/${cases} cases, ${faults} faults`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(`\ndoctor fuzz: ${cases} cases from seed ${first}, ${faults} faults\n`);
  process.exitCode = faults > 0 ? 1 : 0;
}

main();
