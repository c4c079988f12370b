/**
 * The live driver on a real kernel (in the VM harness unless this host's
 * kernel has dm-thin): the seed's operations, status fields, a live dump,
 * and failure injection showing that nothing leaks. One VM boot serves the
 * kernel checks that need no lvm2 of the doctor's: LVM running dmthin as its
 * thin tools, the nightly backup, the live Docker move and the walkthrough.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cliPath, dmthin } from '../support/cli.js';
import { skipReason } from '../support/env.js';
import { kernelUnavailableReason, runScenario, type ScenarioRun } from './support.js';
import { dockerLiveCases } from './docker-live-cases.js';
import { walkthroughCases } from './walkthrough-cases.js';

const reason = kernelUnavailableReason();
let run: ScenarioRun;
let scratchDir = '';
let o: Record<string, any>;

describe.skipIf(skipReason(reason === undefined, `kernel driver tests: ${reason}`))('live driver on a real kernel', () => {
  beforeAll(async () => {
    run = await runScenario('driver-scenario.mjs', 900_000);
    scratchDir = run.scratch;
    o = run.observed;
    process.stderr.write(`kernel scenario ran on the ${run.where} in ${run.seconds.toFixed(1)} s (parts: ${JSON.stringify(o.partSeconds)})\n`);
    if (o.exception) throw new Error(`the scenario threw: ${o.exception}\n${run.output.slice(-2000)}`);
  }, 960_000);

  afterAll(() => {
    if (scratchDir) rmSync(scratchDir, { recursive: true, force: true });
  });

  it('rejects a bad block size before touching the kernel or the disk', () => {
    expect(o.badBlockSize.code).toBe(1);
    expect(o.badBlockSize.stderr).toMatch(/data block size 98304 bytes is not a multiple of 64 KiB/);
    expect(o.badBlockSize.filesCreated).toBe(false);
    expect(o.badBlockSize.after).toEqual(o.baseline);
    expect(o.badName.code).toBe(1);
    expect(o.badName.stderr).toMatch(/pool name 'bad\/name' is not valid/);
  });

  it('rolls back a pool creation that fails after attaching loops or after creating the pool', () => {
    for (const f of [o.faultAfterLoops, o.faultAfterPool]) {
      expect(f.code).toBe(1);
      expect(f.stderr).toMatch(/injected fault/);
      expect(f.files).toEqual([false, false]);
      expect(f.after).toEqual(o.baseline);
    }
  });

  it('creates a pool whose status has every field', () => {
    expect(o.create.code).toBe(0);
    const s = o.statusFresh;
    expect(s).toMatchObject({
      name: 'p1',
      mode: 'rw',
      transaction_id: 0,
      used_data_blocks: 0,
      total_data_blocks: 4096,
      total_metadata_blocks: 2048,
      needs_check: false,
      data_block_size: 128,
    });
    expect(s.held_metadata_root).toBeUndefined();
    expect(s.used_metadata_blocks).toBeGreaterThan(0);
    expect(s.metadata_device).toMatch(/^\/dev\/loop\d+$/);
    expect(typeof s.discard_passdown).toBe('boolean');
  });

  it('refuses an existing pool name without creating files', () => {
    expect(o.createSameName.code).toBe(1);
    expect(o.createSameName.stderr).toMatch(/already exists/);
    expect(o.createSameName.otherFiles).toBe(false);
  });

  it('creates thins; an existing id or an id past 24 bits is refused; a failed activation deletes the new thin', () => {
    expect(o.thinCreate.code).toBe(0);
    expect(o.thinCreateExistingId.code).toBe(1);
    expect(o.thinCreateExistingId.stderr).toMatch(/already exists/);
    expect(o.thinCreateExistingId.after.dms).not.toContain('p1-dup');
    expect(o.faultThinActivate.code).toBe(1);
    expect(o.idSevenFreeAfterFault.code).toBe(0); // the rolled-back id 7 could be created again
    expect(o.deleteSeven.code).toBe(0);
    expect(o.badId.code).toBe(2); // a bad argument, refused before the kernel is asked
    expect(o.badId.stderr).toMatch(/thin id 16777216 is too large: at most 16777215/);
  });

  it('a snapshot keeps the data of the moment it was taken (copy-on-write), and the origin is resumed', () => {
    expect(o.snap.code).toBe(0);
    expect(o.originSuspendedAfterSnap).not.toMatch(/^..s/);
    expect(o.baseAfter).not.toBe(o.baseBefore);
    expect(o.snapAfter).toBe(o.baseBefore);
    expect(o.snapSize).toBe(String(64 << 20));
    expect(o.thinStatusBase).toMatch(/^0 131072 thin 8192 8191$/);
  });

  it('a snapshot of a snapshot is isolated from later writes to its origin', () => {
    expect(o.snapOfSnap.code).toBe(0);
    expect(o.snap2).toBe(o.baseBefore);
    expect(o.snapAfterWrite).not.toBe(o.baseBefore);
  });

  it('refuses to delete an active thin and to remove a mounted one', () => {
    expect(o.deleteActive.code).toBe(1);
    expect(o.deleteActive.stderr).toMatch(/thin 2 is active as p1-snap: deactivate it first/);
    expect(o.mount.code).toBe(0);
    expect(o.deactivateMounted.code).toBe(1);
    expect(o.deactivateMounted.stderr).toMatch(/busy/i);
    expect(o.destroyWhileMounted.code).toBe(1);
    expect(o.destroyWhileMounted.stderr).toMatch(/thin 3 \(\/dev\/mapper\/p1-snap2\) is open \(mounted\?\)/);
    // Refused before removing anything: every device is still there.
    expect(o.destroyWhileMounted.after.dms).toEqual(expect.arrayContaining(['p1', 'p1-base', 'p1-snap', 'p1-snap2']));
  });

  it('repair refuses to write the metadata device of an active pool', () => {
    expect(o.repairIntoLive.code).toBe(1);
    expect(o.repairIntoLive.stderr).toMatch(/held open by the kernel/);
    // The loop device on the input file is the input: refused by its backing file (sysfs), as bad usage.
    expect(o.repairOwnLoop.code).toBe(2);
    expect(o.repairOwnLoop.stderr).toMatch(/the output \/dev\/loop\d+ is an input \(\/dev\/loop\d+ and .*p1\.meta are the same file\)/);
    expect(o.dumpOverOwnLoop.code).toBe(2);
    expect(o.dumpOverOwnLoop.stderr).toMatch(/p1\.meta is an input/);
  });

  it('reports the transaction id, data use and the metadata snapshot', () => {
    expect(o.statusAfter.transaction_id).toBe(5);
    expect(o.statusAfter.used_data_blocks).toBeGreaterThan(64);
    expect(o.heldRoot).toBeGreaterThan(0);
    expect(o.statusHeld).toBe(o.heldRoot);
    expect(o.statusReleased).toBeNull();
    expect(o.activeThins).toEqual(['1:p1-base:131072', '2:p1-snap:131072', '3:p1-snap2:131072']);
  });

  it('dumps a live pool through a metadata snapshot and always releases it', () => {
    expect(o.liveDump.code).toBe(0);
    expect(o.heldAfterLiveDump).toBeNull();
    expect(o.liveDump.stdout).toMatch(/^<superblock uuid="" time="2" transaction="5" flags="0" version="2" data_block_size="128" nr_data_blocks="0">/);
    expect((o.liveDump.stdout.match(/<device /g) ?? []).length).toBe(3);
  });

  it('deletes a snapshot and tears down without leaking a loop or dm device', () => {
    expect(o.deleteSnap2.code).toBe(0);
    expect(o.destroy.code).toBe(0);
    expect(o.final).toEqual(o.baseline);
  });

  it('exports each device offline byte-identical to what the kernel read from it', () => {
    for (const id of ['1', '2']) {
      const out = join(run.observed.files.metadata, '..', `export-${id}.img`);
      const r = dmthin('export', '--metadata', o.files.metadata, '--data', o.files.data, '--dev-id', id, '--size', '64M', '-o', out);
      expect(r.code, r.stderr).toBe(0);
      expect(createHash('md5').update(readFileSync(out)).digest('hex'), `thin ${id}`).toBe(o.deviceMd5[id]);
      // Streamed to stdout: the same bytes.
      const s = spawnSync(
        process.execPath,
        [cliPath, 'export', '--metadata', o.files.metadata, '--data', o.files.data, '--dev-id', id, '--size', '64M', '-o', '-'],
        { maxBuffer: 1 << 28 },
      );
      expect(createHash('md5').update(s.stdout).digest('hex')).toBe(o.deviceMd5[id]);
    }
  });

  it('exports the device as the held metadata snapshot saw it (--at-metadata-snap)', () => {
    expect(o.reserveForExport.code).toBe(0);
    expect(o.deviceMd5[1]).not.toBe(o.deviceMd5AtSnap); // the writes after the snapshot changed the device
    const out = join(o.files.metadata, '..', 'export-at-snap.img');
    const r = dmthin('export', '--metadata', o.files.metadata, '--data', o.files.data, '--dev-id', '1', '--size', '64M', '--at-metadata-snap', '-o', out);
    expect(r.code, r.stderr).toBe(0);
    expect(createHash('md5').update(readFileSync(out)).digest('hex')).toBe(o.deviceMd5AtSnap);
  });

  it('leaves metadata that dmthin and thin_check accept, dumped identically by both', () => {
    expect(o.offlineCheck.code).toBe(0);
    expect(o.thinCheck.code).toBe(0);
    expect(o.offlineDump.stdout).toBe(o.thinDump.stdout);
    expect((o.offlineDump.stdout.match(/<device /g) ?? []).length).toBe(2);
    expect(o.offlineDump.stdout).toMatch(/transaction="5"/);
  });

  // LVM itself, in the same boot, running dmthin as thin_check, thin_repair and
  // thin_dump (test/kernel/guest/lvm-tools.mjs): each tool call is logged as
  // "NAME ARGS -> EXIT" by a wrapper around a symlink to dmthin.
  describe('LVM running dmthin as its thin_* tools', () => {
    const lvm = (ctx: { skip: () => void }): Record<string, any> => {
      if (o.lvm?.skipped) {
        process.stderr.write(`SKIPPED (loudly): ${o.lvm.skipped}\n`);
        ctx.skip();
      }
      if (o.lvm?.exception) throw new Error(`lvm-tools.mjs threw: ${o.lvm.exception}`);
      return o.lvm;
    };

    it('activates a pool after dmthin thin_check passes it, every thin LV as it was', (ctx) => {
      const l = lvm(ctx);
      expect(l.setup).toEqual([0, 0, 0, 0, 0, 0, 0]);
      expect(l.activate.code).toBe(0);
      expect(l.activateTools).toEqual(['thin_check -q /dev/mapper/vglt-pool_tmeta -> 0']);
      expect(l.afterActivate).toEqual(l.before);
      expect(new Set(Object.values(l.before)).size).toBe(3);
    });

    it('refuses a pool whose metadata superblock checksum is broken: dmthin thin_check exits 1', (ctx) => {
      const l = lvm(ctx);
      expect(l.offlineCheckBroken.code).toBe(1);
      expect(l.offlineCheckBroken.stderr).toMatch(/bad superblock checksum: stored 0x[0-9a-f]+, computed 0x[0-9a-f]+ \[block 0\]/);
      expect(l.offlineCheckBroken.stderr).toMatch(/dmthin lvm repair \S+pv\.img vglt\/pool -o NEW/);
      expect(l.refused.code).not.toBe(0);
      expect(l.refused.stderr).toMatch(/Check of pool vglt\/pool failed \(status:1\)/);
      expect(l.refusedTools).toEqual(['thin_check -q /dev/mapper/vglt-pool_tmeta -> 1']);
    });

    it('lvconvert --repair rebuilds it through dmthin thin_repair and thin_dump; the pool activates and every thin LV keeps its bytes', (ctx) => {
      const l = lvm(ctx);
      expect(l.repair.code, l.repair.stderr).toBe(0);
      expect(l.repairTools).toEqual([
        expect.stringMatching(/^thin_repair +-i \/dev\/mapper\/vglt-pool_tmeta -o \/dev\/mapper\/vglt-lvol0_pmspare -> 0$/),
        'thin_dump /dev/mapper/vglt-lvol0_pmspare -> 0',
      ]);
      expect(l.repair.stderr).toMatch(/repaired: 3 devices, \d+ mappings \(0 from older copies\), nothing lost/);
      expect(l.activateRepaired.code).toBe(0);
      expect(l.activateRepairedTools).toEqual(['thin_check -q /dev/mapper/vglt-pool_tmeta -> 0']);
      expect(l.afterRepair).toEqual(l.before);
      expect(l.lvs).toMatch(/pool_meta0 +linear/);
      // Read back offline from the PV image: the repaired pool checks clean and agrees with LVM.
      expect(l.offlineCheckRepaired.code).toBe(0);
      const inv = JSON.parse(l.offlineLs.stdout);
      const pool = inv.vgs[0].lvs.find((x: { name: string }) => x.name === 'pool');
      expect(pool).toMatchObject({ type: 'thin-pool', transaction_id: 3, metadata_transaction_id: 3 });
      expect(inv.vgs[0].lvs.map((x: { name: string }) => x.name)).toContain('pool_meta0');
      expect(inv.problems).toEqual([]);
    });

    it('puts back a thin LV lvremove took away: dmthin lvm undelete, vgcfgrestore, lvconvert --swapmetadata; LVM activates it and it reads as before', (ctx) => {
      const u = lvm(ctx).undelete;
      expect(u.exception).toBeUndefined();
      expect(u.setup).toEqual([0, 0, 0, 0, 0]);
      expect([u.remove, u.deactivate]).toEqual([0, 0]);
      expect(u.undelete.code, u.undelete.stderr).toBe(0);
      // Before the pool was deactivated: export --deleted and undelete refused, nothing written.
      for (const r of [u.exportWhileActive, u.undeleteWhileActive]) {
        expect(r.code, r.stderr).toBe(1);
        expect(r.stderr).toMatch(/the kernel runs vgud\/pool from these disks \(vgud-pool-tpool\): any block it allocates may be one of vgud\/gone's/);
        expect(r.stderr).toMatch(/vgchange -an vgud/);
      }
      expect(u.wroteWhileActive).toEqual([]);
      expect(JSON.parse(u.undelete.stdout)).toMatchObject({ lv: 'vgud/gone', pool: 'pool', left_out: 0 });
      for (const step of ['restore', 'newmeta', 'newmetaActivate', 'swap', 'activate']) expect(u[step].code, `${step}: ${u[step].stderr}`).toBe(0);
      expect(u.copy).toBe(0);
      expect(u.activateTools).toEqual(['thin_check -q /dev/mapper/vgud-pool_tmeta -> 0']);
      expect(u.lvs).toMatch(/^\s*gone\s+2\s*$/m);
      expect(u.after).toBe(u.before);
    });

    it("sends an LVM thin snapshot live from the pool's VG-POOL-tpool device, as docs/backup.md does; the copy reads as the LV", (ctx) => {
      const ls = lvm(ctx).undelete.liveSend;
      expect(ls).toBeDefined();
      expect(ls.snap).toBe(0);
      expect(ls.active).toBe(false); // LVM leaves a thin snapshot inactive (activation skip)
      expect(ls.pool).toBe('vgud-pool-tpool');
      expect(ls.send.code, ls.send.stderr).toBe(0);
      expect(ls.receive.code, ls.receive.stderr).toBe(0);
      expect(ls.activate).toBe(0);
      expect(ls.equal).toBe(true);
    });

    it("lvm send by VG/LV goes through the kernel when given the active pool's disk or the file behind its loop device, and reads a copy of the disk in place", (ctx) => {
      const ls = lvm(ctx).undelete.liveSend;
      for (const r of [ls.lvmByDevice, ls.lvmByFile, ls.lvmByCopy]) expect(r.code, r.stderr).toBe(0);
      for (const r of [ls.lvmByDevice, ls.lvmByFile]) {
        expect(JSON.parse(r.stdout)).toMatchObject({ lv: 'vgud/night1', base_lv: null, live_pool: 'vgud-pool-tpool' });
      }
      expect(JSON.parse(ls.lvmByCopy.stdout)).toMatchObject({ lv: 'vgud/night1', live_pool: null });
      // The metadata snapshot each live send reserved was released: the pool status's held root is '-'.
      expect(ls.poolStatusAfter.split(' ')[6]).toBe('-');
      expect([ls.devReceive, ls.fileReceive]).toEqual([0, 0]);
      expect(ls.equalByName).toEqual([true, true]);
      // lvm export of a thin LV of that running pool is refused and writes nothing; of the copy it works.
      expect(ls.lvmExportLive.code).toBe(1);
      expect(ls.lvmExportLive.stderr).toMatch(/vgud\/night1 is a thin LV of vgud\/pool, which the kernel runs from these disks \(vgud-pool-tpool\)/);
      expect(ls.lvmExportLive.stderr).toMatch(/dmthin lvm send /);
      expect(ls.lvmExportLiveWrote).toBe(false);
      expect(ls.lvmExportCopy.code, ls.lvmExportCopy.stderr).toBe(0);
      // The read-only reports still run, with a warning that names the pool's dm device.
      expect(ls.lvmLsLive.stderr).toMatch(/^dmthin: warning: the kernel runs vgud\/pool from these disks \(vgud-pool-tpool\)/);
    });
  });

  // The nightly backup of docs/backup.md, in the same boot (test/kernel/guest/backup.mjs): an ext4
  // volume changing between snapshots, each snapshot sent live and received into a file and into a
  // thin device of a second pool; the kernel's bytes of each snapshot read before anything is sent.
  describe('backups: send live, receive into a file and into another pool', () => {
    const b = (): Record<string, any> => {
      if (o.backup?.exception) throw new Error(`backup.mjs threw: ${o.backup.exception}`);
      return o.backup;
    };

    it('every night, both copies equal the kernel bytes of the snapshot and the file is fsck-clean; only what changed is sent', () => {
      const nights = b().nights;
      expect(nights).toHaveLength(3);
      for (const n of nights) {
        expect(n.send.code, n.send.stderr).toBe(0);
        expect(n.heldAfterSend).toBeNull(); // the metadata snapshot was released
        expect(n.receiveFile.code, n.receiveFile.stderr).toBe(0);
        expect(n.receiveThin.code, n.receiveThin.stderr).toBe(0);
        expect(n.file, `night of ${n.id}: file`).toBe(n.kernel);
        expect(n.thin, `night of ${n.id}: thin copy`).toBe(n.kernel);
        expect(n.fsck.code, n.fsck.stdout).toBe(0);
      }
      expect(new Set(nights.map((n: { kernel: string }) => n.kernel)).size).toBe(3);
      expect(nights.map((n: { base: number | null }) => n.base)).toEqual([null, 11, 12]);
      const [full, inc1, inc2] = nights.map((n: { send: { report: Record<string, number> } }) => n.send.report);
      expect(inc1.data_blocks).toBeLessThan(full.data_blocks / 2);
      expect(inc1.shared_subtrees_skipped + inc2.shared_subtrees_skipped).toBeGreaterThan(0);
      // fstrim on the last night: its discards arrive as discards; the file gets holes, the thin copy discards.
      expect(inc2.zero_blocks).toBeGreaterThan(0);
      expect(nights[2].receiveFile.report.discarded_as).toBe('holes');
      expect(nights[2].receiveThin.report.discarded_as).toBe('discards');
      expect(nights[0].receiveThin.report.target).toBe('thin 1 of pool bk-dst');
    });

    it('refuses a corrupted, truncated or mis-based stream with the target untouched', () => {
      const x = b();
      expect(x.corrupt).toMatchObject({ code: 1, stderr: expect.stringMatching(/corrupt\.stream, byte \d+: .*checksum/) });
      expect(x.truncated).toMatchObject({ code: 1, stderr: expect.stringMatching(/ends early \(truncated\?\)/) });
      expect(x.wrongBase).toMatchObject({
        code: 1,
        stderr: expect.stringMatching(/base is thin 11 .* holds thin 12 .* send it again from the base the target holds, thin 12 \(dmthin send --base 12;/),
      });
      expect(x.unchanged).toEqual({ file: true, state: true });
    });

    it('a receive killed with SIGKILL is finished by the same stream, and refuses another meanwhile', () => {
      const k = b().killed;
      expect(k.killedApplying).toBe(true);
      expect(k.how).toBe('SIGKILL');
      expect(JSON.parse(k.stateAfterKill).applying).toBeDefined();
      expect(k.other).toMatchObject({ code: 1, stderr: expect.stringMatching(/half way through applying stream/) });
      expect(k.resume.code, k.resume.stderr).toBe(0);
      expect(JSON.parse(k.resume.stdout).resumed).toBe(true);
      expect(k.file).toBe(k.kernel);
    });

    it('a live send refuses a writable device and a snapshot someone else holds; killed by SIGTERM it leaves nothing held or half written', () => {
      const x = b();
      expect(x.writable).toMatchObject({ code: 1, stderr: expect.stringMatching(/thin 1 of bk-src is active as \/dev\/mapper\/bk-vol and writable/) });
      expect(x.alreadyHeld).toMatchObject({ code: 1, stillHeld: true, stderr: expect.stringMatching(/already holds a metadata snapshot/) });
      expect(x.sigterm.sawHeld).toBe(true);
      expect(x.sigterm.code).toBe('SIGTERM');
      expect(x.sigterm.heldAfter).toBeNull();
      expect(x.sigterm.left).toEqual([]);
    });
  });

  // Sharing this boot (guest/driver-scenario.mjs runs each part after the driver's own).
  describe("the seed's live Docker move, made safe", () => {
    dockerLiveCases(() => part('dockerLive'));
  });

  describe('the seed walkthrough on a real kernel', () => {
    walkthroughCases(() => part('walkthrough'));
  });
});

/** A part the driver's boot ran, or the reason it did not. */
function part(key: string): any {
  const x = o[key];
  if (!x || x.exception) throw new Error(`${key} in the driver's boot: ${x?.exception ?? 'not run'}`);
  return x;
}
