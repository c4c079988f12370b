/**
 * What Docker's devicemapper storage driver left on disk (moby
 * daemon/graphdriver/devmapper), read without Docker and without the kernel:
 *
 * ```
 * ROOT/devicemapper/devicemapper/{data,metadata}   loop-lvm sparse files
 * ROOT/devicemapper/metadata/<hash>|base           {"device_id","size","transaction_id","initialized","deleted"}
 * ROOT/devicemapper/metadata/deviceset-metadata    {"next_device_id","BaseDeviceUUID","BaseDeviceFilesystem"}
 * ROOT/devicemapper/metadata/transaction-metadata  {"open_transaction_id","device_hash","device_id"}
 * ROOT/image/devicemapper/layerdb/mounts/<container>/{mount-id,init-id}
 * ROOT/image/devicemapper/layerdb/sha256/<chain>/cache-id   an image layer's device hash
 * ROOT/containers/<container>/config.v2.json       {"Name": "/web", ...}
 * ```
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ArgumentError, UsageError } from '../errors.js';

export type Role = 'base' | 'image layer' | 'container init layer' | 'container layer' | 'unknown';

export interface DockerDevice {
  /** The device's hash ("base" for the base device). */
  hash: string;
  deviceId: number;
  /** Bytes. */
  size: number;
  transactionId: number;
  initialized: boolean;
  deleted: boolean;
  role: Role;
  /** Container name (without the leading /) for container layers. */
  container?: string;
  containerId?: string;
}

export interface DockerTree {
  root: string;
  devicemapperRoot: string;
  metadataFile: string;
  dataFile: string;
  devices: DockerDevice[];
  nextDeviceId?: number;
  baseFilesystem?: string;
  /** transaction-metadata: open unless it equals the pool's transaction id. */
  transactionMetadata?: { openTransactionId: number; hash: string; deviceId: number };
  /** Files Docker could not have written (bad JSON and the like). */
  unreadable: Array<{ file: string; error: string }>;
  /** docker-MAJ:MIN-INODE, the prefix of every dm name Docker gives. */
  devicePrefix: string;
  poolName: string;
}

function readJson(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
}

/** The old glibc st_dev split Docker used (major 12 bits, minor 20 bits). */
export function devicePrefix(devicemapperRoot: string): string {
  const st = statSync(devicemapperRoot);
  const dev = st.dev;
  const major = Math.floor(dev / 256) & 0xfff;
  const minor = (dev & 0xff) | (Math.floor(dev / 4096) & 0xfff00);
  return `docker-${major}:${minor}-${st.ino}`;
}

export interface ReadOptions {
  /** Metadata and data files or devices, for direct-lvm hosts. */
  metadata?: string;
  data?: string;
}

export function readDockerTree(root: string, options: ReadOptions = {}): DockerTree {
  const dmRoot = join(root, 'devicemapper');
  const metaDir = join(dmRoot, 'metadata');
  if (!existsSync(metaDir)) {
    throw new UsageError(`${metaDir} does not exist: is ${root} a Docker root that used the devicemapper driver?`);
  }
  const unreadable: DockerTree['unreadable'] = [];
  const devices: DockerDevice[] = [];
  let nextDeviceId: number | undefined;
  let baseFilesystem: string | undefined;
  let transactionMetadata: DockerTree['transactionMetadata'];

  for (const name of readdirSync(metaDir).sort()) {
    const file = join(metaDir, name);
    if (name.startsWith('.') || !statSync(file).isFile()) continue;
    try {
      const j = readJson(file);
      if (name === 'deviceset-metadata') {
        nextDeviceId = typeof j.next_device_id === 'number' ? j.next_device_id : undefined;
        baseFilesystem = typeof j.BaseDeviceFilesystem === 'string' ? j.BaseDeviceFilesystem : undefined;
        continue;
      }
      if (name === 'transaction-metadata') {
        transactionMetadata = { openTransactionId: Number(j.open_transaction_id ?? 0), hash: String(j.device_hash ?? ''), deviceId: Number(j.device_id ?? -1) };
        continue;
      }
      if (typeof j.device_id !== 'number') throw new Error('no device_id');
      devices.push({
        hash: name,
        deviceId: j.device_id,
        size: Number(j.size ?? 0),
        transactionId: Number(j.transaction_id ?? 0),
        initialized: j.initialized === true,
        deleted: j.deleted === true,
        role: name === 'base' ? 'base' : 'unknown',
      });
    } catch (e) {
      unreadable.push({ file, error: (e as Error).message });
    }
  }

  // Roles and names from the layer store and the containers' configs.
  const byHash = new Map(devices.map((d) => [d.hash, d]));
  const layerdb = join(root, 'image', 'devicemapper', 'layerdb');
  const sha = join(layerdb, 'sha256');
  if (existsSync(sha)) {
    for (const chain of readdirSync(sha)) {
      const f = join(sha, chain, 'cache-id');
      if (!existsSync(f)) continue;
      const d = byHash.get(readFileSync(f, 'utf8').trim());
      if (d && d.role === 'unknown') d.role = 'image layer';
    }
  }
  const mounts = join(layerdb, 'mounts');
  if (existsSync(mounts)) {
    for (const cid of readdirSync(mounts)) {
      const read = (n: string): string | undefined => {
        const f = join(mounts, cid, n);
        return existsSync(f) ? readFileSync(f, 'utf8').trim() : undefined;
      };
      let name: string | undefined;
      const cfg = join(root, 'containers', cid, 'config.v2.json');
      if (existsSync(cfg)) {
        try {
          name = String(readJson(cfg).Name ?? '').replace(/^\//, '') || undefined;
        } catch (e) {
          unreadable.push({ file: cfg, error: (e as Error).message });
        }
      }
      for (const [key, role] of [
        ['mount-id', 'container layer'],
        ['init-id', 'container init layer'],
      ] as const) {
        const d = byHash.get(read(key) ?? '');
        if (d) {
          d.role = role;
          d.container = name;
          d.containerId = cid;
        }
      }
    }
  }
  const prefix = devicePrefix(dmRoot);
  return {
    root,
    devicemapperRoot: dmRoot,
    metadataFile: options.metadata ?? join(dmRoot, 'devicemapper', 'metadata'),
    dataFile: options.data ?? join(dmRoot, 'devicemapper', 'data'),
    devices: devices.sort((a, b) => a.deviceId - b.deviceId),
    nextDeviceId,
    baseFilesystem,
    transactionMetadata,
    unreadable,
    devicePrefix: prefix,
    poolName: `${prefix}-pool`,
  };
}

/**
 * A device by hash (or unique hash prefix, "PREFIX-init" for an init layer
 * as docker ls shows it), "base", or container name / id. Unknown or
 * ambiguous: a usage error naming the choices.
 */
export function findDockerDevice(tree: DockerTree, what: string): DockerDevice {
  const exact = tree.devices.find((d) => d.hash === what);
  if (exact) return exact;
  const byName = tree.devices.filter(
    (d) => d.role === 'container layer' && (d.container === what || d.container === what.replace(/^\//, '') || d.containerId === what),
  );
  if (byName.length === 1) return byName[0];
  // "3c3c3c3c3c3c-init": a prefix of the hash before its -init.
  const init = what.endsWith('-init') ? what.slice(0, -'-init'.length) : undefined;
  const prefixed = tree.devices.filter((d) =>
    init !== undefined
      ? d.hash.endsWith('-init') && d.hash.startsWith(init)
      : (d.hash.startsWith(what) && !d.hash.endsWith('-init')) || (d.containerId?.startsWith(what) && d.role === 'container layer'),
  );
  if (prefixed.length === 1) return prefixed[0];
  const containers = tree.devices.filter((d) => d.role === 'container layer' && d.container).map((d) => d.container);
  const named = containers.length ? `; containers: ${containers.join(', ')}` : '';
  if (prefixed.length > 1)
    throw new ArgumentError(
      `'${what}' matches ${prefixed.length} devices (${prefixed.map((d) => `thin ${d.deviceId} ${d.role}`).join(', ')}): give more of the hash${named}`,
    );
  throw new ArgumentError(`no Docker device, container name or hash '${what}' in ${tree.root}${named}; dmthin docker ls ${tree.root} lists them`);
}
