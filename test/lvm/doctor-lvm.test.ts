/**
 * dmthin lvm doctor on pools lvm2 made on a real kernel (fixtures/lvm-*):
 * a transaction_id mismatch made by editing a copy's committed VG text
 * (checksum recomputed), a missing PV by giving one image of the striped
 * pair. The truth is what the test made: the text before the edit, the PV's
 * label, and bytes the test wrote onto the PV that goes missing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { dashedUuid } from '../../src/lvm/label.js';
import { PvFile, findPv, type FoundPv } from '../../src/lvm/pv.js';
import { guestLayouts, lvmPlan } from '../../src/lvm/doctor-lvm.js';
import { type GuestLayout, fsckLines, guestLayout } from '../../src/lvm/guest-disk.js';
import { openPool } from '../../src/lvm/open-pool.js';
import type { RunningProbe } from '../../src/lvm/running.js';
import { must } from '../../src/errors.js';
import { scanImages } from '../../src/lvm/scan.js';
import type { DoctorReport, PlanStep, Problem } from '../../src/thin/doctor/report.js';
import { dmthin } from '../support/cli.js';
import { committedVgText, withEditedVgText } from '../support/vg-text.js';
import { unpackStripedPvs } from '../support/fixtures.js';
import { projectRoot, scratch, xzDecompress } from '../support/env.js';

const tmp = scratch();
afterAll(() => tmp.cleanup());

let single = '';
let pv0 = '';
let pv1 = '';

function foundPv(image: string): FoundPv {
  const f = new PvFile(image);
  try {
    const found = findPv(f);
    if (!found || 'problem' in found) throw new Error(`no PV in ${image}`);
    return found;
  } finally {
    f.close();
  }
}

/** A copy of `image` whose committed VG text is `edit`ed (as LVM writes it: size and checksums), and the text before. */
function withVgText(image: string, name: string, edit: (text: string) => string): { copy: string; before: string } {
  return { before: committedVgText(image), copy: withEditedVgText(image, tmp.path(name), edit) };
}

const report = (...args: string[]): { code: number; r: any; stderr: string } => {
  const run = dmthin('lvm', 'doctor', '--json', ...args);
  return { code: run.code, r: run.stdout ? JSON.parse(run.stdout) : undefined, stderr: run.stderr };
};

beforeAll(() => {
  single = tmp.path('single.pv');
  xzDecompress(join(projectRoot, 'fixtures', 'lvm-single.pv.xz'), single);
  [pv0, pv1] = unpackStripedPvs(tmp.path);
});

describe('lvm doctor: transaction_id_mismatch', () => {
  it('a healthy pool is healthy: no problem, no plan, exit 0', () => {
    const { code, r } = report(single, 'vgfx/pool');
    expect(code).toBe(0);
    expect(r).toMatchObject({ pool: { kind: 'lvm', name: 'vgfx/pool' }, healthy: true, problems: [], plan: [] });
  });

  it('LVM one ahead with nothing queued: lvm2 activates it but the next thin change fails; the kit holds LVM text with the pool id', () => {
    // The pool metadata says 3 (the fixture's facts); LVM's text is edited to 4.
    const { copy, before } = withVgText(single, 'ahead1.pv', (t) => t.replace('transaction_id = 3', 'transaction_id = 4'));
    const { code, r } = report(copy, 'vgfx/pool');
    expect(code).toBe(1);
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]).toMatchObject({
      code: 'transaction_id_mismatch',
      severity: 'non_fatal',
      facts: { lvm: 4, pool: 3, ahead: 'lvm', by: 1, same_devices: true, pending_messages: 0 },
    });
    expect(r.problems[0].summary).toMatch(
      /next lvcreate, lvremove or snapshot in the pool fails with "Thin pool vgfx-pool-tpool transaction_id is 3, while expected 4"/,
    );
    const kit = tmp.path('kit-ahead1');
    const k = report(copy, 'vgfx/pool', '-o', kit);
    expect(k.code).toBe(1);
    // The fixed VG text beside whatever the raw kit holds.
    expect(k.r.kit.files).toContainEqual({ path: 'vgfx.vg', role: 'vg_text' });
    const text = readFileSync(join(kit, 'vgfx.vg'), 'latin1');
    // LVM's own text from before the edit, but for the description saying what was done.
    const undescribed = (t: string): string => t.replace(/^description = ".*"$/m, 'description = ""').replace(/\n+$/, '\n');
    expect(undescribed(text)).toBe(undescribed(`${before}\n`));
    expect(JSON.parse(readFileSync(join(kit, 'report.json'), 'utf8')).problems[0].code).toBe('transaction_id_mismatch');
    const commands = k.r.plan.map((s: { command?: string }) => s.command ?? '');
    expect(commands[0]).toBe('vgcfgbackup -f vgfx.before.vg vgfx');
    // Written with the kit, the plan names the kit's own directory.
    expect(commands).toContain(`vgcfgrestore --force -f ${kit}/vgfx.vg vgfx`);
    expect(readFileSync(join(kit, 'plan.txt'), 'utf8')).toContain(`vgcfgrestore --force -f ${kit}/vgfx.vg vgfx`);
    expect(readFileSync(join(kit, 'plan.txt'), 'utf8')).not.toContain('KIT');
  });

  it('the pool ahead of LVM by 2: lvm2 refuses activation, which side and by how much are said', () => {
    const { copy } = withVgText(single, 'behind.pv', (t) => t.replace('transaction_id = 3', 'transaction_id = 1'));
    const { code, r } = report(copy, 'vgfx/pool');
    expect(code).toBe(1);
    expect(r.problems[0]).toMatchObject({ code: 'transaction_id_mismatch', severity: 'fatal', facts: { lvm: 1, pool: 3, ahead: 'pool', by: 2 } });
    expect(r.problems[0].summary).toMatch(
      /the pool metadata is ahead of LVM by 2; lvm2 refuses to activate it: "Thin pool vgfx-pool-tpool transaction_id is 3, while expected 1"/,
    );
  });

  it('the thin devices differ: no VG text in the kit, the fix says one side lost commits', () => {
    const { copy } = withVgText(single, 'lost.pv', (t) => t.replace('transaction_id = 3', 'transaction_id = 5').replace('device_id = 3', 'device_id = 7'));
    const kit = tmp.path('kit-lost');
    const { code, r } = report(copy, 'vgfx/pool', '-o', kit);
    expect(code).toBe(1);
    expect(r.problems[0]).toMatchObject({ severity: 'fatal', facts: { same_devices: false, lvm_only: '7', pool_only: '3' } });
    expect(r.problems[0].fix).toMatch(/one side lost commits/);
    expect(readdirSync(kit)).toEqual(expect.arrayContaining(['plan.txt', 'report.json']));
    expect(readdirSync(kit)).not.toContain('vgfx.vg');
    expect(r.kit.files.filter((f: { role: string }) => f.role === 'vg_text')).toEqual([]);
    expect(r.plan.some((s: { command?: string }) => /vgcfgrestore --force/.test(s.command ?? ''))).toBe(false);
    // Nothing restored blindly: the plan says to settle it (the history, LVM's archives) before activating.
    const settle = r.plan.findIndex((s: { step: string }) => /^Settle the transaction_id mismatch before activating/.test(s.step));
    expect(settle).toBeGreaterThan(0);
    expect(r.plan[settle].command).toBe(`dmthin lvm history ${copy}\nvgcfgrestore --list vgfx`);
    expect(settle).toBeLessThan(r.plan.findIndex((s: { command?: string }) => /^lvchange -ay vgfx\/pool$/m.test(s.command ?? '')));
  });

  it('queued messages that account for the difference are no mismatch', () => {
    const { copy } = withVgText(single, 'pending.pv', (t) =>
      t.replace('transaction_id = 3', 'transaction_id = 4\n\n\t\t\t\tmessage1 {\n\t\t\t\t\tcreate = "thin2"\n\t\t\t\t}'),
    );
    const { r } = report(copy, 'vgfx/pool');
    expect(r.problems.filter((p: { code: string }) => p.code === 'transaction_id_mismatch')).toEqual([]);
  });
});

describe('lvm doctor: missing_pv', () => {
  it("names the PV (its uuid from the other disk's label) and what lies on it; the metadata LV on it leaves nothing to read", () => {
    const uuid = dashedUuid(foundPv(pv1).label.uuid);
    const { code, r } = report(pv0, 'vgst/pool');
    expect(code).toBe(1);
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]).toMatchObject({ code: 'missing_pv', severity: 'fatal', facts: { pv: 'pv1', uuid } });
    expect(r.problems[0].summary).toMatch(/pool_tmeta \(the pool's metadata: nothing of the pool can be read\)/);
    expect(r.devices).toEqual([]);
    // No step the metadata's absence makes fail: no lvm export --partial of its thin LVs, the PV brought back instead.
    const commands = r.plan.map((s: { command?: string }) => s.command ?? '').join('\n');
    expect(commands).not.toMatch(/--partial/);
    expect(r.plan.at(-1).step).toMatch(/^Bring back the missing PV .*nothing of vgst\/pool's thin LVs can be read without it/);
  });

  it("each thin LV's lost bytes are exactly those whose data lay on the missing PV", () => {
    // Mark every byte of pv0's extents: what a thin LV reads of the mark lay on pv0.
    const marked = tmp.path('pv0.marked');
    const b = new Uint8Array(readFileSync(pv0));
    const peStart = foundPv(pv0).start + 1024 * 1024; // LVM's default pe_start, 1 MiB, checked below
    const inv = JSON.parse(dmthin('lvm', 'ls', '--json', pv0, pv1).stdout);
    expect(inv.vgs[0].pvs.find((p: { name: string }) => p.name === 'pv0').pe_start).toBe(1024 * 1024);
    b.fill(0xee, peStart);
    writeFileSync(marked, b);
    const { code, r } = report(pv1, 'vgst/pool');
    expect(code).toBe(1);
    expect(r.problems.map((p: { code: string }) => p.code)).toContain('missing_pv');
    for (const lv of ['t1', 's1']) {
      const img = tmp.path(`${lv}.marked.img`);
      expect(dmthin('lvm', 'export', marked, pv1, `vgst/${lv}`, '-o', img).code).toBe(0);
      const bytes = readFileSync(img);
      const truth: Array<{ offset: number; length: number }> = [];
      // The mark lands on whole 64 KiB chunks of the pool (its stripe size): compared chunk by chunk.
      const chunk = 65536;
      for (let at = 0; at < bytes.length; at += chunk) {
        if (bytes[at] !== 0xee || bytes[at + chunk - 1] !== 0xee) continue;
        const last = truth[truth.length - 1];
        if (last && last.offset + last.length === at) last.length += chunk;
        else truth.push({ offset: at, length: chunk });
      }
      expect(truth.length).toBeGreaterThan(0);
      const dev = r.devices.find((d: { name: string }) => d.name === `vgst/${lv}`);
      expect(dev.lost, lv).toEqual(truth);
      expect(dev.size).toBe(25165824);
    }
    const commands = r.plan.map((s: { command?: string }) => s.command ?? '').join('\n');
    expect(commands).toMatch(new RegExp(`dmthin lvm export ${pv1} vgst/t1 --partial -o t1.img`));
  });

  it("the text says what is wrong, then what is at risk, then what to do next, in the LVs' names", () => {
    const t = dmthin('lvm', 'doctor', pv1, 'vgst/pool');
    expect(t.code).toBe(1);
    const at = (s: string): number => t.stdout.indexOf(s);
    expect(at('What is wrong:')).toBeGreaterThan(0);
    expect(at('[fatal] missing_pv: PV pv0 of VG vgst')).toBeGreaterThan(at('What is wrong:'));
    expect(at('What is at risk:')).toBeGreaterThan(at('[fatal] missing_pv'));
    const t1 = t.stdout.indexOf('vgst/t1', at('What is at risk:'));
    expect(t1).toBeGreaterThan(at('What is at risk:'));
    expect(at('What to do next:')).toBeGreaterThan(t1);
    expect(at('vgcfgbackup -f vgst.before.vg vgst')).toBeGreaterThan(at('What to do next:'));
  });

  it('every pool of the images without VG/POOL; -o needs VG/POOL and a new directory', () => {
    const { code, r } = report(pv0, pv1);
    expect(code).toBe(0);
    expect(r.pools.map((p: { pool: { name: string } }) => p.pool.name)).toEqual(['vgst/pool']);
    expect(dmthin('lvm', 'doctor', pv0, pv1, '-o', tmp.path('nokit')).code).toBe(2);
    expect(existsSync(tmp.path('nokit'))).toBe(false);
    const there = tmp.path('there');
    mkdirSync(there);
    const again = dmthin('lvm', 'doctor', pv0, pv1, 'vgst/pool', '-o', there);
    expect([again.code, again.stdout]).toEqual([2, '']);
    expect(readdirSync(there)).toEqual([]);
  });

  it("a pool the images do not hold is usage (exit 2) in one line naming the VG's thin pools; an unknown VG names the VGs", () => {
    for (const [arg, names] of [
      ['vgst/nosuch', /vgst\/nosuch is no LV of VG vgst \(its thin pools: vgst\/pool\)/],
      ['vgst/t1', /vgst\/t1 is not a thin pool of VG vgst \(its thin pools: vgst\/pool\)/],
      ['nope/pool', /no VG nope in .*VGs found: vgst/],
    ] as const) {
      const run = dmthin('lvm', 'doctor', pv0, pv1, arg);
      expect([run.code, run.stdout]).toEqual([2, '']);
      expect(run.stderr.trim().split('\n')).toHaveLength(1);
      expect(run.stderr).toMatch(names);
    }
  });
});

describe('lvm doctor: the plan for damaged metadata', () => {
  const facts = JSON.parse(readFileSync(join(projectRoot, 'fixtures', 'lvm-single.facts'), 'utf8').replace(/\n0 \d+ thin-pool[\s\S]*$/, ''));
  const lvs: Array<{ lv_name: string; lv_size: string; chunk_size: string }> = facts.report[0].lv;
  const size = (name: string): number => Number(lvs.find((l) => l.lv_name === name)?.lv_size);
  const chunk = Number(lvs.find((l) => l.lv_name === 'pool')?.chunk_size);
  const plan = (problems: Problem[], candidates: number[] = []): PlanStep[] => {
    const scan = scanImages([single]);
    try {
      const vg = scan.vgs[0].vg;
      const report: DoctorReport = {
        pool: { kind: 'lvm', name: 'vgfx/pool' },
        healthy: problems.every((p) => p.severity === 'info'),
        problems,
        devices: [],
        candidates: candidates.map((b) => ({ dataBlock: b, offset: b * chunk, matches: [] })),
        plan: [],
      };
      return lvmPlan(report, { vg, pool: 'pool', metadataBytes: size('[pool_tmeta]'), dataBytes: size('[pool_tdata]'), images: [single], chunkBytes: chunk });
    } finally {
      scan.close();
    }
  };
  const p = (code: string, severity: Problem['severity'] = 'fatal', facts?: Problem['facts']): Problem => ({ code, severity, summary: code, fix: code, facts });

  it('exhausted metadata: candidates copied first, the metadata LV grown, a larger LV swapped in, the old removed only after the proof', () => {
    const grow = size('[pool_tmeta]') + 1;
    const steps = plan([p('lost_mappings'), p('metadata_space_exhausted', 'fatal', { growToBytes: grow })], [5, 9]);
    const text = steps.map((s) => `${s.step}\n${s.command ?? ''}`);
    const at = (re: RegExp): number => text.findIndex((t) => re.test(t));
    // The next whole extent (4 MiB in this VG) above the size asked for.
    const extent = 4 * 1024 * 1024;
    const bigger = Math.ceil(grow / extent) * extent;
    expect(bigger).toBeGreaterThan(size('[pool_tmeta]'));
    expect(at(/^vgcfgbackup -f vgfx.before.vg vgfx$/m)).toBe(1);
    expect(at(/^dd if=\/dev\/vgfx\/pool_tdata of=data-block-9.bin bs=65536 skip=9 count=1$/m)).toBeGreaterThan(0);
    expect(at(/^lvchange -ay -y vgfx\/pool_tdata$/m)).toBe(at(/data-block-5/));
    expect(at(new RegExp(`^lvextend --poolmetadatasize ${bigger}b vgfx/pool$`, 'm'))).toBeGreaterThan(at(/data-block-5/));
    expect(at(new RegExp(`^lvcreate -an -Zn -L ${bigger}b -n pool_repaired vgfx$`, 'm'))).toBeGreaterThan(at(/--poolmetadatasize/));
    expect(at(/^lvconvert -y --swapmetadata --poolmetadata vgfx\/pool_repaired vgfx\/pool$/m)).toBeGreaterThan(at(/lvcreate/));
    expect(at(/^lvchange -ay vgfx\/pool$/m)).toBeGreaterThan(at(/--swapmetadata/));
    expect(at(/^lvremove -y vgfx\/pool_repaired$/m)).toBe(steps.length - 1);
    expect(steps[steps.length - 1].step).toMatch(/^Only once the repaired pool is proven/);
  });

  it("damaged metadata: the first step copies the metadata LV byte for byte (lvm2's read-only component activation, the pool inactive), and no step writes over it", () => {
    for (const codes of [['lost_mappings'], ['leaked_blocks'], ['needs_check_flag']]) {
      const steps = plan(codes.map((c) => p(c)));
      expect(steps[0].command?.split('\n')).toEqual([
        'lvchange -ay -y vgfx/pool_tmeta',
        'dd if=/dev/vgfx/pool_tmeta of=pool_tmeta.before-doctor bs=1M conv=sparse',
        'lvchange -an vgfx/pool_tmeta',
      ]);
      expect(steps[0].step).toMatch(/byte for byte/);
      // The kit's pack is said to be what it is: the damaged blocks are not in it.
      expect(steps[0].step).toMatch(/original-metadata.pack is only a compact copy of the metadata blocks that check \(the damaged blocks are not in it/);
      expect(steps.map((s) => s.command ?? '').join('\n')).not.toMatch(/of=\/dev\/vgfx\/pool_tmeta/);
    }
    // A pool the kernel runs is deactivated first: its metadata LV is copied only then.
    const scan = scanImages([single]);
    try {
      const report: DoctorReport = {
        pool: { kind: 'lvm', name: 'vgfx/pool' },
        healthy: false,
        problems: [p('lost_mappings')],
        devices: [],
        candidates: [],
        plan: [],
      };
      const steps = lvmPlan(report, { vg: scan.vgs[0].vg, pool: 'pool', metadataBytes: 4096, dataBytes: 0, images: [single], running: 'vgfx-pool-tpool' });
      expect(steps.slice(0, 2).map((s) => s.command?.split('\n')[0])).toEqual(['lvchange -an vgfx/pool', 'lvchange -ay -y vgfx/pool_tmeta']);
    } finally {
      scan.close();
    }
    // Only a transaction_id to settle: the metadata is not touched, so no copy.
    expect(plan([p('transaction_id_mismatch', 'fatal', { sameDevices: false })]).some((s) => s.command?.includes('pool_tmeta'))).toBe(false);
  });

  it('needs_check alone: no swap; activation with thin_check clearing the flag; healthy: no plan', () => {
    const steps = plan([p('needs_check_flag')]);
    const commands = steps.map((s) => s.command ?? '').join('\n');
    expect(commands).not.toMatch(/lvconvert|lvcreate|lvremove/);
    expect(steps.find((s) => s.command?.startsWith('lvchange -ay vgfx/pool'))?.step).toMatch(/--clear-needs-check-flag/);
    expect(plan([p('pool_running', 'info')])).toEqual([]);
  });
});

describe('lvm doctor: a guest disk with a partition table is fsck-ed partition by partition', () => {
  /** A 16 MiB disk with an MBR: partition 1 ext4 (its superblock magic) from 1 MiB, partition 2 swap, partition 3 nothing known. */
  function mbrDisk(): Uint8Array {
    const disk = new Uint8Array(16 << 20);
    const dv = new DataView(disk.buffer);
    const entry = (i: number, type: number, first: number, count: number): void => {
      const e = 446 + 16 * i;
      disk[e + 4] = type;
      dv.setUint32(e + 8, first, true);
      dv.setUint32(e + 12, count, true);
    };
    entry(0, 0x83, 2048, 8192);
    entry(1, 0x82, 10240, 4096);
    entry(2, 0x83, 14336, 8192);
    disk[510] = 0x55;
    disk[511] = 0xaa;
    dv.setUint16((2048 << 9) + 1024 + 56, 0xef53, true);
    disk.set(Buffer.from('SWAPSPACE2'), (10240 << 9) + 4086);
    return disk;
  }
  const readOf = (disk: Uint8Array) => (offset: number, length: number) => disk.slice(offset, offset + length);

  it('an MBR disk: mapped read-only with losetup -P, fsck -n of the ext4 partition only, the others named; no table: fsck of the LV as before', () => {
    const disk = mbrDisk();
    const layout = guestLayout(readOf(disk), disk.length);
    expect(layout).toMatchObject({ kind: 'partitioned', scheme: 'mbr' });
    const { words, commands } = fsckLines('/dev/pve/vm-100-disk-0', layout);
    expect(commands).toEqual(['L=$(losetup -P --show -f --read-only /dev/pve/vm-100-disk-0)', 'fsck -n "$L"p1', 'losetup -d $L']);
    expect(words).toMatch(/an MBR partition table .*partition 1 \(byte 1048576, 4194304 bytes, ext\).*not 2 \(swap\), 3 \(no filesystem dmthin knows\)/);
    const plain = new Uint8Array(1 << 20);
    expect(fsckLines('/dev/pve/vm-100-disk-0', guestLayout(readOf(plain), plain.length)).commands).toEqual(['fsck -n /dev/pve/vm-100-disk-0']);
  });

  it("read through the pool's own mappings: an MBR written into a thin LV's first data block is found; its lost first bytes leave it unknown, not guessed", () => {
    // Copies of the striped pair: vgst/t1 (thin device 1) has data in its first block.
    const imgs = [pv0, pv1].map((f, i) => {
      const c = tmp.path(`guest${i}.pv`);
      copyFileSync(f, c);
      return c;
    });
    const lv = tmp.path('t1.img');
    expect(dmthin('lvm', 'export', ...imgs, 'vgst/t1', '-o', lv).code).toBe(0);
    // Where t1's first bytes lie in the images: found by their content, then an MBR written there.
    const first = readFileSync(lv).subarray(0, 4096);
    expect(first.some((b) => b !== 0)).toBe(true);
    const hits = imgs.flatMap((f) => {
      const bytes = readFileSync(f);
      const at = bytes.indexOf(first);
      return at < 0 ? [] : [{ f, at, again: bytes.indexOf(first, at + 1) }];
    });
    expect(hits).toHaveLength(1);
    expect(hits[0].again).toBe(-1);
    const mbr = mbrDisk().subarray(0, 512);
    const fd = openSync(hits[0].f, 'r+');
    writeSync(fd, mbr, 0, 512, hits[0].at);
    closeSync(fd);
    const size = statSync(lv).size;
    const notRunning: RunningProbe = () => undefined;
    const layouts = (lost: Array<{ offset: number; length: number }>) => {
      const source = openPool(imgs, 'vgst/pool', notRunning);
      try {
        const report: DoctorReport = {
          pool: { kind: 'lvm', name: 'vgst/pool' },
          healthy: false,
          problems: [],
          devices: [{ deviceId: 1, name: 'vgst/t1', size, mappedBytes: 0, lost, recoveredFromOlder: 0 }],
          candidates: [],
          plan: [],
        };
        return guestLayouts(source, report).get(1);
      } finally {
        source.close();
      }
    };
    const found = layouts([{ offset: size - 65536, length: 65536 }]);
    expect(found).toMatchObject({ kind: 'partitioned', scheme: 'mbr' });
    expect(found?.kind === 'partitioned' && found.partitions.map((p) => [p.number, p.start, p.size])).toEqual([
      [1, 2048 * 512, 8192 * 512],
      [2, 10240 * 512, 4096 * 512],
      [3, 14336 * 512, 8192 * 512],
    ]);
    expect(layouts([{ offset: 0, length: 65536 }])).toMatchObject({ kind: 'unknown', why: expect.stringMatching(/bytes 0\.\.511 are lost/) });
  });

  it('the proving step of a plan whose thin LV holds a partition table maps it with losetup -P and fscks its partitions', () => {
    const scan = scanImages([single]);
    try {
      const report: DoctorReport = {
        pool: { kind: 'lvm', name: 'vgfx/pool' },
        healthy: false,
        problems: [{ code: 'lost_mappings', severity: 'fatal', summary: 's', fix: 'f' }],
        devices: [
          { deviceId: 1, name: 'vgfx/guest', size: 16 << 20, mappedBytes: 0, lost: [{ offset: 8 << 20, length: 65536 }], recoveredFromOlder: 0 },
          { deviceId: 2, name: 'vgfx/plain', size: 16 << 20, mappedBytes: 0, lost: [{ offset: 8 << 20, length: 65536 }], recoveredFromOlder: 0 },
          { deviceId: 3, name: 'vgfx/headless', size: 16 << 20, mappedBytes: 0, lost: [{ offset: 0, length: 65536 }], recoveredFromOlder: 0 },
        ],
        candidates: [],
        plan: [],
      };
      const disk = mbrDisk();
      const layouts = new Map<number, GuestLayout>([
        [1, guestLayout(readOf(disk), disk.length)],
        [2, { kind: 'plain' }],
        [3, { kind: 'unknown', why: 'its bytes 0..511 are lost' }],
      ]);
      const steps = lvmPlan(report, { vg: scan.vgs[0].vg, pool: 'pool', metadataBytes: 4096, dataBytes: 0, images: [single], layouts });
      const prove = must(
        steps.find((s) => s.step.startsWith('Prove the pool')),
        'the proving step',
      );
      expect(prove.command?.split('\n')).toEqual([
        'dmthin pool doctor vgfx-pool-tpool',
        'L=$(losetup -P --show -f --read-only /dev/vgfx/guest)',
        'fsck -n "$L"p1',
        'losetup -d $L',
        'fsck -n /dev/vgfx/plain',
        'fsck -n /dev/vgfx/headless',
      ]);
      // Lost first bytes: fsck of the LV as before, and how to tell and what to run when it is a partitioned disk.
      expect(prove.step).toMatch(
        /Whether \/dev\/vgfx\/headless begins with a partition table is unknown \(its bytes 0\.\.511 are lost\): if blkid -p \/dev\/vgfx\/headless says PTTYPE.*losetup -P --show -f --read-only \/dev\/vgfx\/headless/,
      );
      expect(prove.step).toMatch(/\/dev\/vgfx\/guest holds an MBR partition table .*then fsck -n partition 1 \(byte 1048576, 4194304 bytes, ext\)/);
      expect(prove.command).not.toMatch(/^fsck -n \/dev\/vgfx\/guest$/m);
    } finally {
      scan.close();
    }
  });
});
