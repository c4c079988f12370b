/**
 * LVM measurements, run by `npm run bench` after the export measurement
 * (skip with BENCH_LVM=0). One sparse PV image of 1 TiB, written here as
 * lvm2 lays one out (label in sector 1, one metadata area at 4 KiB, first
 * extent at 1 MiB, 4 MiB extents), holding VG "bench" with two thin pools:
 *
 * - "many": 100 thin LVs (25 origins with 3 snapshots each, from the bench's
 *   pool generator), its metadata restored into pool_tmeta, its data a hole;
 * - "exp": export-bench's pool (one thin LV mapping 768 MiB of real bytes in
 *   fragmented runs), its 1 GiB data file copied into pool_tdata.
 *
 * Timed: `dmthin lvm ls` of the image against `dmthin ls` and thin_ls of the
 * same metadata as a file (the part of lvm ls that is the pool's), and
 * `dmthin lvm export` of the exp thin LV against `cat` (dd) of the very
 * extents that hold its pool's data, both to a file on the same disk.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readSync, rmSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { lvmCrc } from '../../src/lvm/crc.js';
import { dashedUuid, writeLabel } from '../../src/lvm/label.js';
import { MDA_HEADER_SIZE, writeMdaHeader } from '../../src/lvm/mda-header.js';
import { metadataBytesFor, writePoolXml } from './pool-generator.js';

const MiB = 2 ** 20;
const EXTENT = 4 * MiB;
const PE_START = MiB;
const MDA_SIZE = PE_START - 4096;
const PV_UUID = 'BenchPV0BenchPV0BenchPV0BenchPV0';

interface Lv {
  name: string;
  text: string;
}

const linear = (name: string, first: number, count: number, hidden = true): Lv => ({
  name,
  text: `${name} {\nid = "${uuidFor(name)}"\nstatus = ["READ", "WRITE"${hidden ? '' : ', "VISIBLE"'}]\nflags = []\nsegment_count = 1\n\nsegment1 {\nstart_extent = 0\nextent_count = ${count}\ntype = "striped"\nstripe_count = 1\nstripes = [\n"pv0", ${first}\n]\n}\n}\n`,
});
const pool = (name: string, extents: number, chunkSectors: number, tid: number): Lv => ({
  name,
  text: `${name} {\nid = "${uuidFor(name)}"\nstatus = ["READ", "WRITE", "VISIBLE"]\nflags = []\nsegment_count = 1\n\nsegment1 {\nstart_extent = 0\nextent_count = ${extents}\ntype = "thin-pool"\nmetadata = "${name}_tmeta"\npool = "${name}_tdata"\ntransaction_id = ${tid}\nchunk_size = ${chunkSectors}\ndiscards = "passdown"\nzero_new_blocks = 1\n}\n}\n`,
});
const thin = (name: string, poolName: string, deviceId: number, extents: number): Lv => ({
  name,
  text: `${name} {\nid = "${uuidFor(name)}"\nstatus = ["READ", "WRITE", "VISIBLE"]\nflags = []\nsegment_count = 1\n\nsegment1 {\nstart_extent = 0\nextent_count = ${extents}\ntype = "thin"\nthin_pool = "${poolName}"\ntransaction_id = 0\ndevice_id = ${deviceId}\n}\n}\n`,
});

function uuidFor(name: string): string {
  const base = `${name.replace(/[^A-Za-z0-9]/g, '')}00000000000000000000000000000000`.slice(0, 32);
  return dashedUuid(base);
}

/** Copies `length` bytes of `from` (from byte 0) into `fd` at `at`, skipping all-zero chunks (the image stays sparse). */
function copyInto(fd: number, from: string, at: number): void {
  const src = openSync(from, 'r');
  const buf = Buffer.alloc(4 * MiB);
  try {
    for (let off = 0; ; off += buf.length) {
      const n = readSync(src, buf, 0, buf.length, off);
      if (n <= 0) break;
      if (buf.subarray(0, n).some((b) => b !== 0)) writeSync(fd, buf, 0, n, at + off);
    }
  } finally {
    closeSync(src);
  }
}

/** Whether the image's metadata area holds exactly `text` (the image was made for this VG). */
function sameText(image: string, text: string): boolean {
  const body = Buffer.from(`${text}\0`, 'utf8');
  const fd = openSync(image, 'r');
  try {
    const b = Buffer.alloc(body.length);
    readSync(fd, b, 0, b.length, 4096 + MDA_HEADER_SIZE);
    return b.equals(body);
  } finally {
    closeSync(fd);
  }
}

/** Thin ids of a generated pool's XML, in order. */
function deviceIds(xml: string): number[] {
  const out: number[] = [];
  const fd = openSync(xml, 'r');
  const buf = Buffer.alloc(4 * MiB);
  let tail = '';
  try {
    for (let off = 0; ; ) {
      const n = readSync(fd, buf, 0, buf.length, off);
      if (n <= 0) break;
      off += n;
      const text = tail + buf.toString('latin1', 0, n);
      for (const m of text.matchAll(/<device dev_id="(\d+)"/g)) out.push(Number(m[1]));
      tail = text.slice(-64);
    }
  } finally {
    closeSync(fd);
  }
  return [...new Set(out)];
}

export function lvmBench(cli: string, dir: string, exportMeta: string, exportData: string, exportDeviceBytes: number): string {
  const image = join(dir, 'lvm-1t.img');
  const manyXml = join(dir, 'lvm-many.xml');
  const manyMeta = join(dir, 'lvm-many.meta');
  // The 100-LV pool: 25 origins with 3 snapshots each.
  if (!existsSync(manyXml)) {
    writePoolXml(manyXml, { seed: 23, origins: 25, snapshotsPerOrigin: 3, mappingsPerOrigin: 40000, rewriteShare: 0.3, runLength: 1.2, spareDataBlocks: 5000 });
  }
  // Room for every device's own mappings (25 x 4 x 40000, an upper bound with sharing).
  const metaBytes = Math.ceil(metadataBytesFor(25 * 4 * 40000) / EXTENT) * EXTENT;
  if (!existsSync(manyMeta) || statSync(manyMeta).size !== metaBytes) {
    writeFileSync(manyMeta, '');
    truncateSync(manyMeta, metaBytes);
    if (spawnSync(process.execPath, [cli, 'restore', '-q', '-i', manyXml, '-o', manyMeta]).status !== 0) throw new Error('lvm bench: restore failed');
  }
  const ids = deviceIds(manyXml);
  // Extents: many_tmeta, many_tdata (the rest of the first 512 GiB), exp_tmeta, exp_tdata, pmspare.
  const manyMetaExt = metaBytes / EXTENT;
  const manyDataExt = (512 * 1024) / 4 - manyMetaExt;
  const expMetaExt = 2;
  const expDataExt = Math.ceil(statSync(exportData).size / EXTENT);
  const at = { manyMeta: 0, manyData: manyMetaExt, expMeta: manyMetaExt + manyDataExt, expData: manyMetaExt + manyDataExt + expMetaExt };
  const spare = at.expData + expDataExt;
  const peCount = (2 ** 40 - 0) / EXTENT;
  const lvs: Lv[] = [
    pool('many', manyDataExt, 128, 23), // the generator's transaction id: seed % 100
    linear('many_tmeta', at.manyMeta, manyMetaExt),
    linear('many_tdata', at.manyData, manyDataExt),
    pool('exp', expDataExt, 128, 1),
    linear('exp_tmeta', at.expMeta, expMetaExt),
    linear('exp_tdata', at.expData, expDataExt),
    linear('lvol0_pmspare', spare, manyMetaExt),
    ...ids.map((id) => thin(`vm-${id}-disk-0`, 'many', id, 4096)),
    thin('exported', 'exp', 1, exportDeviceBytes / EXTENT),
  ];
  const text =
    `bench {\nid = "${uuidFor('benchvg')}"\nseqno = 1\nformat = "lvm2"\nstatus = ["RESIZEABLE", "READ", "WRITE"]\nflags = []\nextent_size = ${EXTENT / 512}\nmax_lv = 0\nmax_pv = 0\nmetadata_copies = 0\n\n` +
    `physical_volumes {\n\npv0 {\nid = "${dashedUuid(PV_UUID)}"\ndevice = "/dev/sdb"\nstatus = ["ALLOCATABLE"]\nflags = []\ndev_size = ${(2 ** 40 + PE_START) / 512}\npe_start = ${PE_START / 512}\npe_count = ${peCount}\n}\n}\n\n` +
    `logical_volumes {\n\n${lvs.map((l) => l.text).join('\n')}}\n}\n` +
    '# Generated by dmthin bench\n\ncontents = "Text Format Volume Group"\nversion = 1\n\ndescription = "dmthin lvm bench"\n\ncreation_host = "bench"\ncreation_time = 1700000000\n';
  // Rebuilt when its VG text is not this one (the text is small: compare it whole).
  const built = existsSync(image) && statSync(image).size === 2 ** 40 + PE_START && sameText(image, text);
  if (!built) {
    rmSync(image, { force: true });
    writeFileSync(image, '');
    truncateSync(image, 2 ** 40 + PE_START);
    const fd = openSync(image, 'r+');
    try {
      const label = writeLabel({
        sector: 1,
        uuid: PV_UUID,
        deviceSize: 2 ** 40 + PE_START,
        dataAreas: [{ offset: PE_START, size: 0 }],
        metadataAreas: [{ offset: 4096, size: MDA_SIZE }],
        extension: { version: 2, flags: 1, bootloaderAreas: [] },
      });
      writeSync(fd, label, 0, label.length, 512);
      const body = Buffer.from(`${text}\0`, 'utf8');
      const header = writeMdaHeader({
        version: 1,
        start: 4096,
        size: MDA_SIZE,
        locns: [{ offset: MDA_HEADER_SIZE, size: body.length, checksum: lvmCrc(body), flags: 0 }],
      });
      writeSync(fd, header, 0, header.length, 4096);
      writeSync(fd, body, 0, body.length, 4096 + MDA_HEADER_SIZE);
      copyInto(fd, manyMeta, PE_START + at.manyMeta * EXTENT);
      copyInto(fd, exportMeta, PE_START + at.expMeta * EXTENT);
      copyInto(fd, exportData, PE_START + at.expData * EXTENT);
    } finally {
      closeSync(fd);
    }
  }
  const time = (argv: string[], out?: string): number => {
    let best = Infinity;
    for (let i = 0; i < 3; i++) {
      if (out) rmSync(out, { force: true });
      const t0 = process.hrtime.bigint();
      const r = spawnSync(argv[0], argv.slice(1), { stdio: 'ignore' });
      if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status})`);
      best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
    }
    return best;
  };
  const lvmLs = time([process.execPath, cli, 'lvm', 'ls', image]);
  const lvmLsJson = time([process.execPath, cli, 'lvm', 'ls', '--json', image]);
  const thinLs = time([process.execPath, cli, 'ls', manyMeta]);
  const tpt = ['/usr/sbin/thin_ls', '/opt/tpt-1.1/thin_ls'].filter(existsSync);
  const oracles = tpt.map((t) => `  ${t.padEnd(22)} ${time([t, manyMeta]).toFixed(2)} s  (the same metadata as a file)`);
  const out = join(dir, 'lvm-export.out');
  const dataBytes = expDataExt * EXTENT;
  const extents = [`if=${image}`, 'bs=1M', `skip=${(PE_START + at.expData * EXTENT) / MiB}`, `count=${(expDataExt * EXTENT) / MiB}`];
  spawnSync('dd', [...extents, 'of=/dev/null'], { stdio: 'ignore' }); // warm the page cache, as export-bench does
  const cat = time(['dd', ...extents, `of=${out}`], out);
  const exp = time([process.execPath, cli, 'lvm', 'export', image, 'bench/exported', '-o', out], out);
  rmSync(out, { force: true });
  const mib = (b: number): string => (b / MiB).toFixed(0);
  return [
    `lvm: a 1 TiB sparse PV image, VG bench with ${ids.length} thin LVs in pool many (${mib(metaBytes)} MiB metadata) and pool exp`,
    `  dmthin lvm ls          ${lvmLs.toFixed(2)} s  (--json ${lvmLsJson.toFixed(2)} s)`,
    `  dmthin ls              ${thinLs.toFixed(2)} s  (pool many's metadata as a file)`,
    ...oracles,
    `  dd of exp's data extents ${cat.toFixed(2)} s  ${(dataBytes / MiB / cat).toFixed(0)} MiB/s (${mib(dataBytes)} MiB)`,
    `  dmthin lvm export      ${exp.toFixed(2)} s  ${(exportDeviceBytes / MiB / exp).toFixed(0)} MiB/s of LV (${mib(exportDeviceBytes)} MiB), ${(dataBytes / MiB / exp).toFixed(0)} MiB/s of its pool's data extents`,
  ].join('\n');
}
