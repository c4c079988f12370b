/**
 * `dmthin containerd ls` on 1000 snapshots (issue 26 item 5) against
 * `dmthin ls` on the same pool: how much the three bbolt stores and the
 * join cost over the pool's own listing. Run by `npm run bench`; skip with
 * BENCH_CONTAINERD=0.
 *
 * The host is laid out as containerd keeps it: 20 images of 3 layers (60
 * committed snapshots, each a chain) and 940 containers' active snapshots
 * on them in namespace default, the stores written with the bbolt writer
 * in containerd's schema (meta.db, metadata.db, POOL.db), and a pool of
 * 1000 thin devices restored from XML, each mapping 256 blocks.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildBoltImage } from '../../src/format/bbolt/writer.js';
import { writeGoTime, writeUvarint } from '../../src/containerd/go-values.js';
import { writeDeviceRecord } from '../../src/containerd/device-store.js';

const IMAGES = 20;
const LAYERS = 3;
const CONTAINERS = 940;
const BLOCKS = 256;

function host(cli: string, dir: string): { root: string; meta: string; data: string } {
  const base = join(dir, 'containerd-1000');
  const root = join(base, 'root');
  const meta = join(base, 'pool.meta');
  const data = join(base, 'pool.data');
  if (existsSync(join(base, 'done'))) return { root, meta, data };
  mkdirSync(join(root, 'io.containerd.metadata.v1.bolt'), { recursive: true });
  const sroot = join(root, 'io.containerd.snapshotter.v1.devmapper');
  mkdirSync(sroot, { recursive: true });
  const t = writeGoTime('2026-12-04T00:00:00Z');
  const snapsMeta = new Map<string, unknown>();
  const snapsStore = new Map<string, unknown>();
  const devices = new Map<string, Uint8Array>();
  const ids = new Map<string, Uint8Array>();
  const images = new Map<string, unknown>();
  const blobs = new Map<string, unknown>();
  const containers = new Map<string, unknown>();
  let id = 0;
  let n = 0;
  const add = (key: string, parent: string | undefined, kind: number, parentId: number | undefined): number => {
    id++;
    n++;
    const storeKey = `default/${n}/${key}`;
    snapsMeta.set(key, { name: storeKey, createdat: t, updatedat: t, ...(parent ? { parent } : {}), labels: {} });
    snapsStore.set(storeKey, {
      id: writeUvarint(id),
      kind: Uint8Array.of(kind),
      createdat: t,
      updatedat: t,
      ...(parent ? { parent: `default/${n - 1}/${parent}` } : {}),
      labels: {},
    });
    const name = `pool-snap-${id}`;
    devices.set(
      name,
      writeDeviceRecord({
        name,
        deviceId: id,
        size: 1 << 30,
        parentName: parentId ? `pool-snap-${parentId}` : undefined,
        state: kind === 3 ? 10 : 4,
        stateName: '',
      }),
    );
    ids.set(String(id), Uint8Array.of(1));
    return id;
  };
  const tops: Array<{ key: string; id: number }> = [];
  for (let i = 0; i < IMAGES; i++) {
    let parent: string | undefined;
    let pid: number | undefined;
    for (let l = 0; l < LAYERS; l++) {
      const key = `sha256:${i.toString(16).padStart(4, '0')}${l.toString(16).padStart(60, '0')}`;
      pid = add(key, parent, 3, pid);
      parent = key;
    }
    const top = { key: parent ?? '', id: pid ?? 0 };
    tops.push(top);
    const manifest = `sha256:m${i}`;
    const config = `sha256:c${i}`;
    images.set(`docker.io/bench/img:${i}`, { createdat: t, target: { digest: manifest, mediatype: 'application/vnd.oci.image.manifest.v1+json' } });
    blobs.set(manifest, { labels: { 'containerd.io/gc.ref.content.config': config } });
    blobs.set(config, { labels: { 'containerd.io/gc.ref.snapshot.devmapper': top.key } });
  }
  for (let c = 0; c < CONTAINERS; c++) {
    const top = tops[c % IMAGES];
    const key = `ctr-${c}`;
    add(key, top.key, 2, top.id);
    containers.set(key, {
      createdat: t,
      image: `docker.io/bench/img:${c % IMAGES}`,
      snapshotter: 'devmapper',
      snapshotKey: key,
      runtime: { name: 'io.containerd.runc.v2' },
    });
  }
  writeFileSync(
    join(root, 'io.containerd.metadata.v1.bolt', 'meta.db'),
    buildBoltImage({ v1: { default: { containers, images, content: { blob: blobs }, snapshots: { devmapper: snapsMeta } } } } as never),
  );
  writeFileSync(join(sroot, 'metadata.db'), buildBoltImage({ v1: { snapshots: snapsStore, parents: {} } } as never));
  writeFileSync(join(sroot, 'pool.db'), buildBoltImage({ devices, device_ids: ids } as never));
  // The pool: 1000 thins, each mapping BLOCKS blocks of its own.
  let xml = `<superblock uuid="" time="1" transaction="1" flags="0" version="2" data_block_size="128" nr_data_blocks="${id * BLOCKS}">\n`;
  for (let d = 1; d <= id; d++) {
    xml += `  <device dev_id="${d}" mapped_blocks="${BLOCKS}" transaction="0" creation_time="0" snap_time="0">\n    <range_mapping origin_begin="0" data_begin="${(d - 1) * BLOCKS}" length="${BLOCKS}" time="0"/>\n  </device>\n`;
  }
  xml += '</superblock>\n';
  const xmlPath = join(base, 'pool.xml');
  writeFileSync(xmlPath, xml);
  writeFileSync(meta, '');
  truncateSync(meta, 64 << 20);
  if (spawnSync(process.execPath, [cli, 'restore', '-q', '-i', xmlPath, '-o', meta]).status !== 0) throw new Error('containerd bench: restore failed');
  writeFileSync(data, '');
  truncateSync(data, id * BLOCKS * 65536);
  writeFileSync(join(base, 'done'), '');
  return { root, meta, data };
}

export function containerdBench(cli: string, dir: string, repeat = 3): string {
  const h = host(cli, dir);
  const time = (args: string[]): number => {
    let best = Number.POSITIVE_INFINITY;
    for (let i = 0; i < repeat; i++) {
      const t0 = process.hrtime.bigint();
      const r = spawnSync(process.execPath, [cli, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
      if (r.status !== 0) throw new Error(`dmthin ${args.join(' ')} failed: ${r.stderr}`);
      best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
    }
    return best;
  };
  const ls = time(['ls', h.meta]);
  const ctd = time(['containerd', 'ls', h.root, '--metadata', h.meta, '--data', h.data]);
  const stores = time(['containerd', 'ls', h.root]);
  return [
    `containerd ls: ${IMAGES * LAYERS + CONTAINERS} snapshots (${IMAGES} images of ${LAYERS} layers, ${CONTAINERS} containers), a pool of as many thins of ${BLOCKS} blocks; best of ${repeat}`,
    `  dmthin ls POOL_METADATA                       ${ls.toFixed(2)} s`,
    `  dmthin containerd ls ROOT --metadata --data   ${ctd.toFixed(2)} s  (${(ctd / ls).toFixed(2)}x of ls)`,
    `  dmthin containerd ls ROOT (the stores alone)  ${stores.toFixed(2)} s`,
  ].join('\n');
}
