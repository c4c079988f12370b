/**
 * The LVM codecs on a PV that lvm2 made on a real kernel (fixtures/
 * lvm-single.pv.xz, by test/kernel/guest/make-fixtures.sh): LVM's own
 * report of the pool, recorded beside it (lvs --reportformat json), is the
 * oracle for what the VG text read from the image must say.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import CRC32 from 'crc-32';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type ConfigSection, parseConfigText } from '../../src/lvm/config-text.js';
import { dashedUuid } from '../../src/lvm/label.js';
import { type FoundPv, PvFile, findPv } from '../../src/lvm/pv.js';
import { type VolumeGroup, lvBytes, mapLv, volumeGroup } from '../../src/lvm/vg.js';
import { LvSource } from '../../src/lvm/lv-source.js';
import { check } from '../../src/thin/check/check.js';
import { Metadata } from '../../src/thin/metadata.js';
import { oracle, projectRoot, scratch, tpt09, xzDecompress } from '../support/env.js';
import { committedVgText, withEditedVgText } from '../support/vg-text.js';
import { dmthin } from '../support/cli.js';
import type { LvsRow } from '../support/lvs.js';
import { must } from '../../src/errors.js';

const tmp = scratch();
afterAll(() => tmp.cleanup());

let pv: FoundPv;
let rows: LvsRow[];
let kernelStatus: string;
let vg: ConfigSection;
let image = '';

/** LV `name`'s bytes, through its segments, into a file (the way lvm export will stream them). */
function extractLv(model: VolumeGroup, name: string): string {
  const lv = must(model.lvs.get(name), `LV ${name}`);
  const bytes = lvBytes(model, lv);
  const out = new Uint8Array(bytes);
  const f = new PvFile(image);
  try {
    let at = 0;
    for (const run of mapLv(model, name, 0, bytes)) {
      expect(run.pv).toBe('pv0');
      out.set(f.read(run.offset, run.length), at);
      at += run.length;
    }
  } finally {
    f.close();
  }
  const path = tmp.path(`${name}.lv`);
  writeFileSync(path, out);
  return path;
}

beforeAll(() => {
  image = tmp.path('lvm-single.pv');
  xzDecompress(join(projectRoot, 'fixtures', 'lvm-single.pv.xz'), image);
  const f = new PvFile(image);
  try {
    const found = findPv(f);
    if (!found || 'problem' in found) throw new Error(`no PV found: ${JSON.stringify(found)}`);
    pv = found;
  } finally {
    f.close();
  }
  const facts = readFileSync(join(projectRoot, 'fixtures', 'lvm-single.facts'), 'utf8');
  const status = facts.search(/^0 \d+ thin-pool /m);
  rows = (JSON.parse(facts.slice(0, status)) as { report: Array<{ lv: LvsRow[] }> }).report[0].lv;
  kernelStatus = facts.slice(status).split('\n')[0];
  const text = pv.metadataAreas.find((m) => m.text)?.text;
  if (!text) throw new Error(`no readable VG text: ${JSON.stringify(pv.metadataAreas)}`);
  vg = must(parseConfigText(text).section('vgfx'), 'VG vgfx');
});

describe('an LVM thin pool on one PV, made by lvm2 on a real kernel', () => {
  it('finds the label in sector 1 and one metadata area whose committed text checks', () => {
    expect(pv.label.sector).toBe(1);
    expect(pv.label.metadataAreas).toHaveLength(1);
    expect(pv.metadataAreas[0].problem).toBeUndefined();
    expect(vg).toBeDefined();
    // The PV section of the text names this PV by its label's uuid.
    const pvs = must(vg.section('physical_volumes'), 'physical_volumes');
    const ids = [...pvs.sections.values()].map((s) => s.string('id'));
    expect(ids).toEqual([dashedUuid(pv.label.uuid)]);
  });

  it('has every LV lvs reports, with its size, segment type, thin ids, origin, chunk size and transaction id', () => {
    const lvs = must(vg.section('logical_volumes'), 'logical_volumes');
    const extent = must(vg.number('extent_size'), 'extent_size') * 512;
    expect(rows.length).toBeGreaterThanOrEqual(6); // pool, its _tmeta and _tdata, pmspare, two thins and a snapshot
    for (const r of rows) {
      const name = r.lv_name.replace(/^\[|\]$/g, '');
      const section = lvs.section(name);
      expect(section, name).toBeDefined();
      const lv = must(section, `LV ${name}`);
      const segs = [...lv.sections.values()].filter((s) => s.name.startsWith('segment'));
      expect(segs.length, name).toBe(lv.number('segment_count'));
      if (r.segtype === 'thin') {
        const seg = segs[0];
        expect([seg.string('type'), seg.number('device_id'), seg.string('thin_pool')], name).toEqual(['thin', Number(r.thin_id), r.pool_lv]);
        expect(seg.string('origin') ?? '', name).toBe(r.origin);
        // A thin LV's size is its extents' worth, virtual.
        expect(must(seg.number('extent_count'), 'extent_count') * extent, name).toBe(Number(r.lv_size));
      } else {
        expect(segs.reduce((a, s) => a + must(s.number('extent_count'), 'extent_count'), 0) * extent, name).toBe(Number(r.lv_size));
      }
      if (r.segtype === 'thin-pool') {
        const seg = segs[0];
        expect(must(seg.number('chunk_size'), 'chunk_size') * 512).toBe(Number(r.chunk_size));
        expect(seg.number('transaction_id')).toBe(Number(r.transaction_id));
        // The kernel's pool said the same transaction id while it ran.
        expect(kernelStatus.split(' ')[3]).toBe(r.transaction_id);
      }
    }
  });

  it("holds the pool's metadata in pool_tmeta: read in place, it checks clean and has the thin ids and transaction id LVM names", () => {
    const model = volumeGroup(vg);
    const pool = must(model.lvs.get('pool'), 'LV pool').segments[0];
    expect([pool.type, pool.metadataLv, pool.dataLv]).toEqual(['thin-pool', 'pool_tmeta', 'pool_tdata']);
    const f = new PvFile(image);
    const tmeta = new LvSource(model, must(pool.metadataLv, 'the metadata LV'), new Map([['pv0', { file: f, start: 0 }]]));
    expect(tmeta.size).toBe(
      Number(
        must(
          rows.find((r) => r.lv_name === '[pool_tmeta]'),
          'the lvs row of [pool_tmeta]',
        ).lv_size,
      ),
    );
    const c = check(tmeta);
    expect([c.ok, c.findings]).toEqual([true, []]);
    expect(c.transactionId).toBe(BigInt(must(pool.transactionId, 'transaction_id')));
    const md = Metadata.open(new LvSource(model, must(pool.metadataLv, 'the metadata LV'), new Map([['pv0', { file: f, start: 0 }]])));
    try {
      const thinIds = rows.filter((r) => r.segtype === 'thin').map((r) => Number(r.thin_id));
      expect(
        md
          .devices()
          .map((d) => d.devId)
          .sort(),
      ).toEqual(thinIds.sort());
      expect(md.superblock.dataBlockSize).toBe(pool.chunkSize);
    } finally {
      md.close();
      f.close();
    }
  });

  it('lvm export gives every thin LV byte for byte as the kernel read it through LVM, to a file and to a stream', () => {
    const facts = readFileSync(join(projectRoot, 'fixtures', 'lvm-single.facts'), 'utf8');
    const kernel = [...facts.matchAll(/^lv vgfx\/(\S+) (\d+) bytes, sha256 ([0-9a-f]{64})$/gm)];
    expect(kernel.map((m) => m[1])).toEqual(['thin1', 'snap1', 'thin2']);
    for (const [, name, size, sha] of kernel) {
      const out = tmp.path(`${name}.img`);
      const r = dmthin('lvm', 'export', '--json', image, `vgfx/${name}`, '-o', out);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ kind: 'thin', size: Number(size) });
      const bytes = readFileSync(out);
      expect([bytes.length, createHash('sha256').update(bytes).digest('hex')], name).toEqual([Number(size), sha]);
    }
    const streamed = spawnSync(process.execPath, [join(projectRoot, 'dist', 'dmthin.cjs'), 'lvm', 'export', image, 'vgfx/snap1', '-o', '-'], {
      maxBuffer: 1 << 27,
    });
    expect(createHash('sha256').update(streamed.stdout).digest('hex')).toBe(kernel[1][3]);
    // A linear LV: the pool's data LV, the same bytes as its extents in the image.
    const tdata = tmp.path('tdata.img');
    expect(dmthin('lvm', 'export', image, 'vgfx/pool_tdata', '-o', tdata).code).toBe(0);
    expect(readFileSync(tdata).equals(readFileSync(extractLv(volumeGroup(vg), 'pool_tdata')))).toBe(true);
    // A name not there: the VG's visible LVs (lvs' rows without brackets) and where they are all listed.
    const nope = dmthin('lvm', 'export', image, 'vgfx/nope', '-o', tmp.path('x'));
    expect(nope.code).toBe(1);
    const refusal = /no LV nope in VG vgfx \(its LVs: ([^;]*); dmthin lvm ls (\S+) lists every LV\)\n$/.exec(nope.stderr);
    expect(refusal, nope.stderr).not.toBeNull();
    const listed = must(refusal, 'the refusal listing the LVs');
    expect(listed[1].split(', ').sort()).toEqual(['pool', 'snap1', 'thin1', 'thin2']);
    expect(listed[2]).toBe(image);
  });

  it('lvm ls lists what lvs listed, and the pool metadata LVM cannot see', () => {
    const r = dmthin('lvm', 'ls', '--json', image);
    expect([r.code, r.stderr]).toEqual([0, '']);
    const out = JSON.parse(r.stdout) as {
      vgs: Array<{ name: string; extent_size: number; pvs: Array<{ file: string }>; lvs: Array<Record<string, unknown>> }>;
      problems: unknown[];
    };
    expect(out.problems).toEqual([]);
    expect(out.vgs.map((v) => [v.name, v.extent_size, v.pvs.map((p) => p.file)])).toEqual([
      ['vgfx', must(vg.number('extent_size'), 'extent_size') * 512, [image]],
    ]);
    const lvs = out.vgs[0].lvs;
    expect(lvs.map((l) => (l.hidden ? `[${l.name}]` : l.name)).sort()).toEqual(rows.map((r) => r.lv_name).sort());
    for (const row of rows) {
      const l = must(
        lvs.find((x) => x.name === row.lv_name.replace(/^\[|\]$/g, '')),
        `LV ${row.lv_name}`,
      );
      expect([l.type, l.size, l.pool ?? '', l.device_id?.toString() ?? '', l.origin ?? ''], row.lv_name).toEqual([
        row.segtype,
        Number(row.lv_size),
        row.pool_lv,
        row.thin_id,
        row.origin,
      ]);
      if (row.segtype === 'thin-pool') {
        expect([l.chunk_size, l.transaction_id, l.metadata_transaction_id]).toEqual([
          Number(row.chunk_size),
          Number(row.transaction_id),
          Number(kernelStatus.split(' ')[3]),
        ]);
      }
      if (row.segtype === 'thin') {
        expect(l.transaction_id, row.lv_name).toBe(Number(row.transaction_id));
        // lvs prints data_percent = mapped / size with two decimals.
        expect(Math.abs(((l.mapped_bytes as number) / (l.size as number)) * 100 - Number(row.data_percent)), row.lv_name).toBeLessThanOrEqual(0.01);
      }
    }
  });

  /** A copy of the image whose committed VG text is `edit`ed (as LVM writes it: size and checksums), and the text before. */
  function withVgText(name: string, edit: (text: string) => string): { copy: string; before: string } {
    return { before: committedVgText(image), copy: withEditedVgText(image, tmp.path(name), edit) };
  }
  const problemsOf = (path: string): Array<{ kind: string; vg: string; lv: string; detail: string }> =>
    JSON.parse(dmthin('lvm', 'ls', '--json', path).stdout).problems;

  it("lvm ls names a transaction-id mismatch: which side is ahead, exit 1; --fix-vg-text gives back LVM's own text", () => {
    // LVM's text says transaction 4; the pool metadata still says 3 (a crash between the two writes).
    const { copy, before } = withVgText('mismatch.pv', (t) => t.replace('transaction_id = 3', 'transaction_id = 4'));
    const r = dmthin('lvm', 'ls', '--json', copy);
    expect(r.code).toBe(1);
    expect(problemsOf(copy)).toEqual([
      {
        kind: 'transaction_id_mismatch',
        vg: 'vgfx',
        lv: 'pool',
        detail: expect.stringMatching(/LVM says transaction_id 4, the pool metadata 3: LVM is ahead.*Both sides name the same thin devices/),
      },
    ]);
    expect(dmthin('lvm', 'ls', copy).stdout).toMatch(/problems:\n {2}transaction_id_mismatch vgfx\/pool: /);
    // The corrected text is LVM's own text from before the edit, but for the description that says what was done.
    const fixed = tmp.path('vgfx.fixed');
    const f = dmthin('lvm', 'ls', copy, '--fix-vg-text', '-o', fixed);
    expect(f).toMatchObject({ code: 0, stderr: expect.stringMatching(/VG vgfx with transaction_id pool 4 -> 3\..*vgcfgrestore --force -f /) });
    const text = readFileSync(fixed, 'latin1');
    const undescribed = (t: string): string => t.replace(/^description = ".*"$/m, 'description = ""');
    expect(undescribed(text)).toBe(undescribed(`${before}\n`.replace(/\n\n$/, '\n')));
    expect(text).toMatch(/^description = "dmthin: transaction_id of pool set to 3, the pool metadata's"$/m);
    expect(dmthin('lvm', 'ls', image, '--fix-vg-text', '-o', tmp.path('none'))).toMatchObject({ code: 1, stderr: expect.stringMatching(/nothing to fix/) });
    expect(existsSync(tmp.path('none'))).toBe(false);
  });

  it('--fix-vg-text refuses when the device sets differ; pending messages are named, not a mismatch', () => {
    // thin2 names device 7, which the pool lacks, and the pool's device 3 has no LV: one side lost commits.
    const { copy } = withVgText('lost.pv', (t) => t.replace('transaction_id = 3', 'transaction_id = 4').replace('device_id = 3', 'device_id = 7'));
    expect(problemsOf(copy).map((p) => p.kind)).toEqual(['transaction_id_mismatch', 'thin_device_missing', 'orphan_thin_device']);
    expect(problemsOf(copy)[0].detail).toMatch(/device sets differ \(only LVM names 7; only the pool has 3\)/);
    const out = tmp.path('lost.fixed');
    expect(dmthin('lvm', 'ls', copy, '--fix-vg-text', '-o', out)).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/not writing a VG text for vgfx\/pool/),
    });
    expect(existsSync(out)).toBe(false);
    // lvcreate interrupted after LVM queued "create thin2" (device 7) and counted it: transaction 4 = the pool's 3 + 1.
    const { copy: pending } = withVgText('pending.pv', (t) =>
      t
        .replace('transaction_id = 3', 'transaction_id = 4\n\n\t\t\t\tmessage1 {\n\t\t\t\t\tcreate = "thin2"\n\t\t\t\t}')
        .replace('device_id = 3', 'device_id = 7'),
    );
    expect(problemsOf(pending)).toEqual([
      { kind: 'pending_messages', vg: 'vgfx', lv: 'pool', detail: expect.stringMatching(/LVM queued create thin2 for pool pool/) },
      { kind: 'orphan_thin_device', vg: 'vgfx', lv: 'pool', detail: expect.stringMatching(/thin device 3, which no LV names/) },
    ]);
  });

  it('lvm check and lvm dump read the pool inside the image in place; dump equals thin_dump of the same metadata', () => {
    const c = dmthin('lvm', 'check', image, 'vgfx/pool');
    // The same stages and findings (none) as dmthin check of the metadata copied out.
    expect([c.code, c.stderr]).toEqual([0, dmthin('check', extractLv(volumeGroup(vg), 'pool_tmeta')).stderr]);
    expect(c.stderr).not.toMatch(/error|warning/);
    expect(c.stdout).toMatch(/^TRANSACTION_ID=3\nMETADATA_FREE_BLOCKS=\d+\n$/);
    // The space the kernel reported while the pool ran: data used as is; metadata used
    // plus the kernel's reserve, min(4096, blocks / 10) (dm-thin-metadata.c __set_metadata_reserve).
    const j = JSON.parse(dmthin('lvm', 'check', '--json', image, 'vgfx/pool').stdout) as { data_blocks_used: number; metadata_free_blocks: number };
    const [metaUsed, metaTotal] = kernelStatus.split(' ')[4].split('/').map(Number);
    const [dataUsed] = kernelStatus.split(' ')[5].split('/').map(Number);
    expect(j.data_blocks_used).toBe(dataUsed);
    expect(metaTotal - j.metadata_free_blocks + Math.min(4096, Math.floor(metaTotal / 10))).toBe(metaUsed);
    const d = dmthin('lvm', 'dump', image, 'vgfx/pool');
    expect(d.code).toBe(0);
    const model = volumeGroup(vg);
    const tmeta = extractLv(model, 'pool_tmeta');
    const reference = tpt09 ? oracle('0.9', 'thin_dump', [tmeta]).stdout : dmthin('dump', tmeta).stdout;
    expect(d.stdout).toBe(reference);
    expect(d.stdout).toMatch(/^<superblock uuid="" time="\d+" transaction="3" /);
  });

  it('lvm ls/delta/rmap/repair/report on VG/POOL answer as thin_ls/thin_delta/thin_check 0.9 (and dmthin rmap) do on the same metadata', () => {
    const tmeta = extractLv(volumeGroup(vg), 'pool_tmeta');
    const same = (ours: string[], tool: string, args: string[]): void => {
      const r = dmthin('lvm', ...ours);
      expect([r.code, r.stderr]).toEqual([0, '']);
      // thin_rmap reads a leaf shared by snapshots once (test/thin/insight.test.ts): rmap is held to dmthin's own on the file.
      if (tpt09 && tool !== 'thin_rmap') expect(r.stdout).toBe(oracle('0.9', tool, args).stdout);
      else expect(r.stdout).toBe(dmthin(tool.replace('thin_', ''), ...args).stdout);
      expect(r.stdout.length).toBeGreaterThan(40);
    };
    same(['ls', image, 'vgfx/pool', '-f', 'DEV,MAPPED_BLOCKS,EXCLUSIVE_BLOCKS,SHARED_BLOCKS,CREATE_TIME'], 'thin_ls', [
      tmeta,
      '-o',
      'DEV,MAPPED_BLOCKS,EXCLUSIVE_BLOCKS,SHARED_BLOCKS,CREATE_TIME',
    ]);
    same(['delta', image, 'vgfx/pool', '--snap1', '1', '--snap2', '2'], 'thin_delta', ['--snap1', '1', '--snap2', '2', tmeta]);
    same(['rmap', image, 'vgfx/pool', '--region', '0..640'], 'thin_rmap', ['--region', '0..640', tmeta]);
    // repair writes a new file only: the image is read, never written.
    const before = createHash('sha256').update(readFileSync(image)).digest('hex');
    const out = tmp.path('repaired.meta');
    expect(dmthin('lvm', 'repair', image, 'vgfx/pool', '-o', out)).toMatchObject({ code: 1, stderr: expect.stringMatching(/truncate -s 4194304 /) });
    writeFileSync(out, new Uint8Array(4194304));
    expect(dmthin('lvm', 'repair', '-q', image, 'vgfx/pool', '-o', out)).toMatchObject({ code: 0, stderr: '' });
    expect(dmthin('dump', out).stdout).toBe(dmthin('dump', tmeta).stdout);
    if (tpt09) expect(oracle('0.9', 'thin_check', [out]).code).toBe(0);
    expect(dmthin('lvm', 'repair', image, 'vgfx/pool', '-o', image)).toMatchObject({ code: 2, stderr: expect.stringMatching(/is an input/) });
    expect(dmthin('lvm', 'check', '--auto-repair', image, 'vgfx/pool').code).toBe(2);
    expect(createHash('sha256').update(readFileSync(image)).digest('hex')).toBe(before);
    const html = tmp.path('pool.html');
    expect(dmthin('lvm', 'report', image, 'vgfx/pool', '-o', html).code).toBe(0);
    expect(readFileSync(html, 'utf8')).toMatch(/vgfx\/pool_tmeta · transaction 3 · /);
    // Options of the thin ls need the pool; the inventory alone refuses them.
    expect(dmthin('lvm', 'ls', image, '--no-headers')).toMatchObject({ code: 2, stderr: expect.stringMatching(/give VG\/POOL last/) });
  });

  it('lvm check finds damage to the pool metadata inside the image, and names what is not a pool', () => {
    const model = volumeGroup(vg);
    const [run] = mapLv(model, 'pool_tmeta', 0, 4096);
    const copy = tmp.path('damaged.pv');
    const b = new Uint8Array(readFileSync(image));
    b[run.offset + 200] ^= 1; // the pool's superblock, in the image
    writeFileSync(copy, b);
    const c = dmthin('lvm', 'check', copy, 'vgfx/pool');
    expect(c.code).toBe(1);
    expect(c.stderr).toMatch(/bad superblock checksum.*\[block 0\]/);
    expect(dmthin('lvm', 'check', image, 'vgfx/thin1')).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/vgfx\/thin1 is a thin LV, not a thin pool \(thin pools: pool\)/),
    });
    expect(dmthin('lvm', 'check', image, 'nope/pool')).toMatchObject({ code: 1, stderr: expect.stringMatching(/no VG nope in .* \(found: vgfx\)/) });
    expect(dmthin('lvm', 'check', image).code).toBe(2);
  });
});

describe('lvm send and receive on the PV lvm2 made', () => {
  it('snap1 whole, then thin1 since snap1: the target holds each as the kernel read it', () => {
    const sums = new Map(
      readFileSync(join(projectRoot, 'fixtures', 'lvm-single.facts'), 'utf8')
        .split('\n')
        .map((l) => /^lv vgfx\/(\S+) \d+ bytes, sha256 ([0-9a-f]{64})$/.exec(l))
        .filter((m) => m !== null)
        .map((m) => [m[1], m[2]]),
    );
    const full = tmp.path('snap1.stream');
    const inc = tmp.path('thin1.stream');
    const target = tmp.path('backup.img');
    const f = dmthin('lvm', 'send', image, 'vgfx/snap1', '-o', full, '--json');
    expect(f.code, f.stderr).toBe(0);
    // No pool of this VG is active here: read from the image, not through the kernel.
    expect(JSON.parse(f.stdout)).toMatchObject({ lv: 'vgfx/snap1', base_lv: null, device_id: 2, live_pool: null });
    expect(dmthin('receive', '-i', full, '-o', target).code).toBe(0);
    expect(createHash('sha256').update(readFileSync(target)).digest('hex')).toBe(sums.get('snap1'));
    const i = dmthin('lvm', 'send', image, 'vgfx/thin1', '--base', 'vgfx/snap1', '-o', inc, '--json');
    expect(i.code, i.stderr).toBe(0);
    const report = JSON.parse(i.stdout);
    expect(report).toMatchObject({ device_id: 1, base_device_id: 2 });
    // Only what thin1 wrote after the snapshot travels: fewer blocks than thin1 maps.
    expect(report.data_blocks).toBeLessThan(
      JSON.parse(dmthin('lvm', 'ls', '--json', image).stdout).vgs[0].lvs.find((l: { name: string }) => l.name === 'thin1').mapped_bytes / 65536,
    );
    expect(dmthin('receive', '-i', inc, '-o', target).code).toBe(0);
    expect(createHash('sha256').update(readFileSync(target)).digest('hex')).toBe(sums.get('thin1'));
    expect(dmthin('lvm', 'send', image, 'vgfx/thin1', '--base', 'vgfx/pool', '-o', tmp.path('x'))).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(
        /vgfx\/pool is a thin-pool LV: lvm send takes thin LVs \(its thin LVs: (snap1|thin1|thin2), (snap1|thin1|thin2), (snap1|thin1|thin2); dmthin lvm ls \S+ lists every LV\)/,
      ),
    });
    // export of the pool itself names what can be exported of it instead; nothing written.
    const whole = tmp.path('pool.img');
    expect(dmthin('lvm', 'export', image, 'vgfx/pool', '-o', whole)).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(
        /vgfx\/pool is a thin-pool LV: lvm export reads thin, linear and striped LVs; export its thin LVs one by one \((snap1|thin1|thin2), (snap1|thin1|thin2), (snap1|thin1|thin2)\), or its hidden metadata and data LVs as they are: vgfx\/pool_tmeta and vgfx\/pool_tdata\n$/,
      ),
    });
    expect(existsSync(whole)).toBe(false);
    // The LV sent as its own base: what a full and an incremental stream take instead.
    expect(dmthin('lvm', 'send', image, 'vgfx/thin1', '--base', 'vgfx/thin1', '-o', tmp.path('y'))).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/the base and the device sent are the same device \(1\): a full stream needs no --base; .*an earlier snapshot of it/),
    });
    // A VG's name where lvm ls wants images: what lvm ls takes, not "no such file".
    expect(dmthin('lvm', 'ls', image, 'vgfx')).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/vgfx is not a file: lvm ls lists every VG of the images given .*give VG\/POOL last/),
    });
  });
});

describe('lvm history on the PV lvm2 made', () => {
  it('finds every version of the VG text LVM wrote, each described in its own words, and what each changed', () => {
    const r = dmthin('lvm', 'history', '--json', image);
    expect([r.code, r.stderr]).toEqual([0, '']);
    const h = JSON.parse(r.stdout) as {
      versions: Array<{ vg: string; seqno: number; time: string; description: string; committed: boolean; changes: Array<{ kind: string; lv: string }> }>;
      removed: unknown[];
    };
    // The buffer never wrapped on this PV: seqno 1 (vgcreate) to the committed 10 are all there.
    expect(h.versions.map((v) => v.seqno)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(h.versions.map((v) => v.committed)).toEqual([false, false, false, false, false, false, false, false, false, true]);
    expect(h.versions[0].description).toMatch(/^Write from vgcreate vgfx /);
    // LVM's own description of each command against what the text says it changed.
    const added = (lv: string) => h.versions.find((v) => v.changes.some((c) => c.kind === 'lv_added' && c.lv === lv));
    expect(must(added('thin1'), 'the version adding thin1').description).toMatch(/lvcreate -y -V 32M -T vgfx\/pool -n thin1 /);
    expect(must(added('snap1'), 'the version adding snap1').description).toMatch(/lvcreate -y -s vgfx\/thin1 -n snap1 /);
    expect(must(added('thin2'), 'the version adding thin2').description).toMatch(/lvcreate -y -V 16M -T vgfx\/pool -n thin2 /);
    expect(must(added('pool_tmeta'), 'the version adding pool_tmeta').description).toMatch(/lvcreate -y --type thin-pool -L 40M --chunksize 64k -n pool vgfx /);
    // Times never go backwards; nothing was removed.
    const times = h.versions.map((v) => Date.parse(v.time));
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    expect(h.removed).toEqual([]);
    // An LV is "changed" exactly when its section of the VG text differs from the version before (read here from
    // the bytes where each version was found, sections matched by braces): not when only its line number moved.
    const texts = h.versions.map((v) => {
      const at = Number(must(/ at byte (\d+)$/.exec((v as unknown as { found_in: string }).found_in), 'where the version was found')[1]);
      const bytes = readFileSync(image).subarray(at);
      return bytes.subarray(0, bytes.indexOf(0)).toString('utf8');
    });
    const sections = (text: string): Map<string, string> => {
      const out = new Map<string, string>();
      const lvs = text.indexOf('\nlogical_volumes {');
      if (lvs < 0) return out;
      let i = text.indexOf('{', lvs) + 1;
      for (;;) {
        const m = /^\s*([A-Za-z0-9_.+-]+) \{/.exec(text.slice(i, i + 300));
        if (!m) return out;
        let depth = 0;
        let j = i;
        for (; j < text.length; j++) {
          if (text[j] === '{') depth++;
          else if (text[j] === '}' && --depth === 0) break;
        }
        out.set(m[1], text.slice(i + m[0].length, j));
        i = j + 1;
      }
    };
    for (let k = 1; k < texts.length; k++) {
      const [was, now] = [sections(texts[k - 1]), sections(texts[k])];
      const changed = [...now].filter(([n, t]) => was.has(n) && was.get(n) !== t).map(([n]) => n);
      expect(
        h.versions[k].changes
          .filter((c) => c.kind === 'lv_changed')
          .map((c) => c.lv)
          .sort(),
        `seqno ${h.versions[k].seqno}`,
      ).toEqual(changed.sort());
    }
    expect(dmthin('lvm', 'history', image).stdout).toMatch(
      /^VG vgfx\n {2}seqno 1 {2}\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ .*older copy, found in the buffer: Write from vgcreate/,
    );
  });
});

describe('the same PV inside whole-disk images', () => {
  /** A disk of `bytes` with the fixture's PV copied in at `at`. */
  function disk(bytes: number, at: number): Uint8Array {
    const d = new Uint8Array(bytes);
    d.set(readFileSync(image), at);
    return d;
  }
  const le32 = (b: Uint8Array, off: number, v: number): void => new DataView(b.buffer).setUint32(off, v >>> 0, true);
  const le64 = (b: Uint8Array, off: number, v: number): void => new DataView(b.buffer).setBigUint64(off, BigInt(v), true);

  function exportsThin1(path: string, problems: string[] = []): void {
    const ls = JSON.parse(dmthin('lvm', 'ls', '--json', path).stdout) as {
      vgs: Array<{ name: string; pvs: Array<{ offset: number }> }>;
      problems: Array<{ kind: string }>;
    };
    expect(ls.problems.map((p) => p.kind)).toEqual(problems);
    expect(ls.vgs.map((v) => v.name)).toEqual(['vgfx']);
    const out = tmp.path('thin1-from-disk.img');
    expect(dmthin('lvm', 'export', path, 'vgfx/thin1', '-o', out).code).toBe(0);
    const kernel = must(
      /^lv vgfx\/thin1 \d+ bytes, sha256 ([0-9a-f]{64})$/m.exec(readFileSync(join(projectRoot, 'fixtures', 'lvm-single.facts'), 'utf8')),
      'the sha256 of thin1',
    )[1];
    expect(createHash('sha256').update(readFileSync(out)).digest('hex')).toBe(kernel);
  }

  it('finds it in an MBR partition (sector 2048) and exports its thin LV as the kernel read it', () => {
    const d = disk(128 * 2 ** 20, 2048 * 512);
    d[446 + 4] = 0x8e; // Linux LVM
    le32(d, 446 + 8, 2048);
    le32(d, 446 + 12, (96 * 2 ** 20) / 512);
    d[446 + 16 + 4] = 0x05; // an extended partition: named, not read
    le32(d, 446 + 16 + 8, 200000);
    le32(d, 446 + 16 + 12, 2048);
    d[510] = 0x55;
    d[511] = 0xaa;
    const path = tmp.path('mbr.img');
    writeFileSync(path, d);
    const ls = JSON.parse(dmthin('lvm', 'ls', '--json', path).stdout) as { vgs: Array<{ pvs: Array<{ offset: number }> }> };
    expect(ls.vgs[0].pvs[0].offset).toBe(2048 * 512);
    exportsThin1(path, ['partition_not_read']);
  });

  it('finds it in GPT partition 3, as Proxmox lays out its disk, and exports its thin LV as the kernel read it', () => {
    const start = 4 * 2 ** 20;
    const d = disk(start + 100 * 2 ** 20, start);
    // Protective MBR.
    d[446 + 4] = 0xee;
    le32(d, 446 + 8, 1);
    le32(d, 446 + 12, d.length / 512 - 1);
    d[510] = 0x55;
    d[511] = 0xaa;
    // 128 entries of 128 bytes at LBA 2; partitions 1 and 2 small, 3 the PV.
    const entries = new Uint8Array(128 * 128);
    const part = (i: number, first: number, last: number): void => {
      entries.fill(0xab, i * 128, i * 128 + 16); // a non-zero type GUID
      le64(entries, i * 128 + 32, first);
      le64(entries, i * 128 + 40, last);
    };
    part(0, 34, 2047);
    part(1, 2048, start / 512 - 1);
    part(2, start / 512, start / 512 + (96 * 2 ** 20) / 512 - 1);
    d.set(entries, 2 * 512);
    const h = new Uint8Array(92);
    h.set(Buffer.from('EFI PART'), 0);
    le32(h, 8, 0x10000);
    le32(h, 12, 92);
    le64(h, 72, 2);
    le32(h, 80, 128);
    le32(h, 84, 128);
    le32(h, 88, CRC32.buf(entries));
    le32(h, 16, CRC32.buf(h));
    d.set(h, 512);
    const path = tmp.path('gpt.img');
    writeFileSync(path, d);
    exportsThin1(path);
    // A damaged GPT entry array is named, not guessed at.
    d[2 * 512 + 300] ^= 1;
    writeFileSync(path, d);
    const ls = JSON.parse(dmthin('lvm', 'ls', '--json', path).stdout) as { problems: Array<{ kind: string; detail: string }> };
    expect(ls.problems.map((p) => p.kind)).toEqual(['partition_not_read', 'no_pv']);
  });

  it('names a disk image format that must be converted first, and what partitions hold when none is a PV', () => {
    const qcow = tmp.path('disk.qcow2');
    const q = new Uint8Array(1 << 20);
    q.set([0x51, 0x46, 0x49, 0xfb, 0, 0, 0, 3], 0); // "QFI\xfb", version 3
    writeFileSync(qcow, q);
    const r = dmthin('lvm', 'ls', '--json', qcow);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).problems).toEqual([
      { kind: 'disk_image_format', detail: expect.stringMatching(/disk\.qcow2 is a qcow2 disk image: convert it to raw first \(qemu-img convert -O raw /) },
    ]);
    // An MBR disk whose one partition holds ext4 (its magic at 1080) and no PV.
    const d = new Uint8Array(8 << 20);
    d[446 + 4] = 0x83;
    le32(d, 446 + 8, 2048);
    le32(d, 446 + 12, 8192);
    d[510] = 0x55;
    d[511] = 0xaa;
    d.set([0x53, 0xef], 2048 * 512 + 1080);
    const path = tmp.path('ext4-disk.img');
    writeFileSync(path, d);
    expect(JSON.parse(dmthin('lvm', 'ls', '--json', path).stdout).problems).toEqual([
      {
        kind: 'no_pv',
        detail: expect.stringMatching(
          /no LVM label .* nor in any of its 1 mbr partitions \(.*ext4-disk\.img partition 1 is an ext2\/3\/4 filesystem, not an LVM PV\)/,
        ),
      },
    ]);
  });

  it('names a LUKS-encrypted image instead of calling it empty', () => {
    const path = tmp.path('luks.img');
    const d = new Uint8Array(1 << 20);
    d.set([0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe], 0);
    writeFileSync(path, d);
    const r = dmthin('lvm', 'ls', '--json', path);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).problems).toEqual([{ kind: 'encrypted', detail: expect.stringMatching(/LUKS-encrypted: open it with cryptsetup/) }]);
  });
});
