/**
 * A containerd host's devmapper storage, opened once: containerd's store,
 * the snapshotter's two stores, and (when the examiner has them) the thin
 * pool's metadata and data. containerd never records where the pool's
 * devices are, so the pool is read only from --metadata and --data; the
 * stores alone still list every snapshot and what names it.
 *
 * Where things are, as an examiner has them (the config's paths are the
 * dead host's): ROOT/io.containerd.metadata.v1.bolt/meta.db; the
 * snapshotter's root from --snapshotter-root, else the config's root_path
 * moved under ROOT when it lay under the config's root, else containerd's
 * default ROOT/io.containerd.snapshotter.v1.devmapper; POOL.db named by
 * the config's pool_name, else the one *.db there that is not metadata.db.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { statInput } from '../io/files.js';
import { join, relative, resolve } from 'node:path';
import { ArgumentError, UsageError } from '../errors.js';
import { BoltDb } from '../format/bbolt/db.js';
import { BoltError } from '../format/bbolt/errors.js';
import { type PoolSource, refuseForeign, superblockMagicAt0 } from '../thin/pool-source.js';
import { type ContainerdConfig, readContainerdConfig } from './config.js';
import { type ContainerdMeta, readContainerdMeta } from './meta-store.js';
import { type SnapshotStore, readSnapshotStore } from './snapshot-store.js';
import { type DeviceStore, readDeviceStore } from './device-store.js';

export const DEFAULT_CONTAINERD_ROOT = '/var/lib/containerd';
export const META_DB = join('io.containerd.metadata.v1.bolt', 'meta.db');
export const DEFAULT_SNAPSHOTTER_DIR = 'io.containerd.snapshotter.v1.devmapper';
export const SNAPSHOTTER_DB = 'metadata.db';

export interface ContainerdLocations {
  root: string;
  snapshotterRoot?: string;
  config?: string;
  metadata?: string;
  data?: string;
}

export interface ContainerdStores {
  meta: ContainerdMeta;
  snapshots: SnapshotStore;
  devices: DeviceStore;
  /** The three bbolt files, open: for the free-page search of removed records. */
  dbs: { meta: BoltDb; snapshots: BoltDb; devices: BoltDb };
  /** What the bbolt files said that was survivable (a bad meta page). */
  warnings: string[];
}

export interface ContainerdPoolSource extends PoolSource {
  readonly kind: 'containerd';
  readonly root: string;
  readonly snapshotterRoot: string;
  readonly poolName: string;
  /** The options that found it (--snapshotter-root, --config, --metadata, --data), for commands a message suggests. */
  readonly locationArgs: string;
  readonly config?: ContainerdConfig;
  readonly stores: ContainerdStores;
  /** Whether the pool's metadata was given: without it, only the stores are read. */
  readonly hasPool: boolean;
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** The snapshotter's root as the examiner has it. */
function snapshotterRootOf(loc: ContainerdLocations, config?: ContainerdConfig): string {
  if (loc.snapshotterRoot) return loc.snapshotterRoot;
  if (config?.rootPath && config.root) {
    const rel = relative(config.root, config.rootPath);
    if (rel && !rel.startsWith('..')) return join(loc.root, rel);
    // Beside the root on the host (/run/ct/root and /run/ct/devmapper): the same place beside ROOT, when the
    // snapshotter's store is there (a copy of the host's tree keeps their places).
    const beside = resolve(loc.root, rel);
    if (existsSync(join(beside, SNAPSHOTTER_DB))) return beside;
  }
  const dflt = join(loc.root, DEFAULT_SNAPSHOTTER_DIR);
  if (!isDir(dflt) && config?.rootPath) {
    throw new ArgumentError(
      `the devmapper snapshotter's root is ${config.rootPath} on the host the config came from, outside its containerd root: give where it is here with --snapshotter-root DIR (it holds ${SNAPSHOTTER_DB} and ${config.poolName ?? 'POOL'}.db)`,
    );
  }
  return dflt;
}

/** ROOT must hold containerd's store: said first, since every other path is found from it. */
function checkRoot(loc: ContainerdLocations, config?: ContainerdConfig): void {
  if (existsSync(join(loc.root, META_DB))) return;
  const dflt = loc.root === DEFAULT_CONTAINERD_ROOT ? ` (the default: give the root you have as ROOT)` : '';
  // A root given as the mount point of the dead host's disk: the config says where under it containerd's root was.
  const under = config?.root ? join(loc.root, config.root) : undefined;
  const hint = under && existsSync(join(under, META_DB)) ? `; the config's root ${config?.root} is ${under} here: give that as ROOT` : '';
  throw new ArgumentError(`${loc.root} is not containerd's root${dflt}: it has no ${META_DB}${hint}`);
}

/** --metadata and --data: files or block devices that are there, and not each other (thin metadata given as --data). */
function checkPoolFiles(loc: ContainerdLocations): void {
  for (const [path, option] of [
    [loc.metadata, '--metadata'],
    [loc.data, '--data'],
  ] as const) {
    if (path === undefined) continue;
    try {
      statInput(path, option);
    } catch (e) {
      if (e instanceof UsageError) throw new ArgumentError(e.message);
      throw e;
    }
  }
  if (loc.metadata) refuseForeign(loc.metadata, '--metadata');
  if (loc.metadata && loc.data && superblockMagicAt0(loc.data) && !superblockMagicAt0(loc.metadata)) {
    throw new ArgumentError(`--data ${loc.data} holds thin pool metadata (a superblock in its first block) and --metadata ${loc.metadata} does not: swapped?`);
  }
}

function poolDbOf(dir: string, config?: ContainerdConfig): { name: string; file: string } {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.db') && n !== SNAPSHOTTER_DB);
  } catch {
    throw new ArgumentError(`${dir} is not a directory: the devmapper snapshotter's root holds ${SNAPSHOTTER_DB} and POOL.db (--snapshotter-root DIR)`);
  }
  if (!existsSync(join(dir, SNAPSHOTTER_DB))) {
    throw new ArgumentError(
      `${dir} has no ${SNAPSHOTTER_DB}: not the devmapper snapshotter's root (its root_path holds ${SNAPSHOTTER_DB} and POOL.db; --snapshotter-root DIR)`,
    );
  }
  if (config?.poolName) return { name: config.poolName, file: join(dir, `${config.poolName}.db`) };
  if (names.length !== 1) {
    throw new ArgumentError(
      names.length === 0
        ? `${dir} holds no POOL.db beside ${SNAPSHOTTER_DB}: not a devmapper snapshotter's root? (--snapshotter-root DIR)`
        : `${dir} holds ${names.length} pool stores (${names.join(', ')}): say which pool with --config FILE (its pool_name)`,
    );
  }
  return { name: names[0].slice(0, -3), file: join(dir, names[0]) };
}

function openDb(path: string, what: string): BoltDb {
  if (!existsSync(path)) throw new UsageError(`${path} not found: ${what} (see dmthin containerd ls --help for where each store is)`);
  try {
    return BoltDb.open(path);
  } catch (e) {
    if (e instanceof BoltError) throw new UsageError(`${what} cannot be read: ${e.message}`);
    throw e;
  }
}

/** Opens and reads the three stores (each bbolt file opened once, read-only) and names the pool's devices; nothing is written. */
export function openContainerdPool(loc: ContainerdLocations): ContainerdPoolSource {
  const config = loc.config ? readContainerdConfig(loc.config) : undefined;
  if (config && config.poolName === undefined && config.rootPath === undefined) {
    throw new ArgumentError(
      `${loc.config} has no devmapper snapshotter table ([plugins."io.containerd.snapshotter.v1.devmapper"] with pool_name and root_path): not the config of a host that used it, or not containerd's config.toml`,
    );
  }
  checkRoot(loc, config);
  const snapshotterRoot = snapshotterRootOf(loc, config);
  const pool = poolDbOf(snapshotterRoot, config);
  if (loc.data && !loc.metadata) throw new ArgumentError('--data needs --metadata: the pool is read from its metadata');
  checkPoolFiles(loc);
  const opened: BoltDb[] = [];
  try {
    const meta = openDb(join(loc.root, META_DB), "containerd's metadata store (ROOT/io.containerd.metadata.v1.bolt/meta.db)");
    opened.push(meta);
    const snaps = openDb(join(snapshotterRoot, SNAPSHOTTER_DB), "the devmapper snapshotter's store");
    opened.push(snaps);
    const devs = openDb(pool.file, "the devmapper snapshotter's device store");
    opened.push(devs);
    const stores: ContainerdStores = {
      meta: readOrSay(meta, readContainerdMeta, (u) => ({ file: meta.name, namespaces: [], containers: [], images: [], snapshots: [], unreadable: [u] })),
      snapshots: readOrSay(snaps, readSnapshotStore, (u) => ({ file: snaps.name, snapshots: [], unreadable: [u] })),
      devices: readOrSay(devs, readDeviceStore, (u) => ({ file: devs.name, devices: [], ids: new Map(), unreadable: [u] })),
      dbs: { meta, snapshots: snaps, devices: devs },
      warnings: opened.flatMap((d) => d.warnings.map((w) => `${d.name}: ${w}`)),
    };
    const files = [meta.name, snaps.name, devs.name, ...(loc.metadata ? [loc.metadata] : []), ...(loc.data ? [loc.data] : [])];
    const locationArgs =
      `${loc.snapshotterRoot ? ` --snapshotter-root ${loc.snapshotterRoot}` : ''}${loc.config ? ` --config ${loc.config}` : ''}${loc.metadata ? ` --metadata ${loc.metadata}` : ''}${loc.data ? ` --data ${loc.data}` : ''}`.trim();
    const doctorArgs = `${loc.root} ${locationArgs}`.trim();
    return {
      kind: 'containerd',
      name: pool.name,
      root: loc.root,
      snapshotterRoot,
      poolName: pool.name,
      locationArgs,
      config,
      stores,
      hasPool: loc.metadata !== undefined,
      metadata: loc.metadata ?? '',
      data: loc.data,
      running: existsSync(`/dev/mapper/${pool.name}`) ? pool.name : undefined,
      files,
      writable: false,
      repairCommand: `dmthin repair -i ${loc.metadata ?? 'METADATA'} -o NEW`,
      doctorCommand: `dmthin containerd doctor ${doctorArgs}`,
      // Idempotent: a pool verb closes the source it is handed, and the command that opened it closes it on every path.
      close: () => {
        for (const d of opened.splice(0)) d.close();
      },
    };
  } catch (e) {
    for (const d of opened) d.close();
    throw e;
  }
}

/**
 * A store whose tree breaks part way is read as empty, the break its one
 * unreadable record: the other stores and the pool are still listed (each
 * disagreement the loss causes follows from it), rather than nothing.
 */
function readOrSay<T>(db: BoltDb, read: (db: BoltDb) => T, empty: (unreadable: string) => T): T {
  try {
    return read(db);
  } catch (e) {
    if (!(e instanceof BoltError)) throw e;
    return empty(`${e.message}: the store's tree breaks there, so none of its records is listed (the problems below that name its records follow from this)`);
  }
}
