/**
 * What dmthin needs from containerd's config.toml: its root, and the
 * devmapper snapshotter's pool_name, root_path and base_image_size. The
 * paths are the dead host's, not the examiner's: callers use them only to
 * name things and to find files under a root the examiner gave.
 *
 * Not a TOML parser: top-level `key = "string"` lines and the devmapper
 * plugin's table in any of the three config versions
 *   v1  [plugins.devmapper]
 *   v2  [plugins."io.containerd.snapshotter.v1.devmapper"]
 *   v3  [plugins.'io.containerd.snapshotter.v1.devmapper']
 * (containerd's defaults.go and plugins/snapshots/devmapper/config.go).
 */
import { readFileSync } from 'node:fs';
import { UsageError } from '../errors.js';
import { errnoWords } from '../io/files.js';

export interface ContainerdConfig {
  /** containerd's root on the host it came from. */
  root?: string;
  poolName?: string;
  /** The snapshotter's root (its metadata.db and POOL.db) on that host. */
  rootPath?: string;
  baseImageSize?: string;
  /** The socket ctr must be given (--address) when it is not containerd's default. */
  grpcAddress?: string;
}

const DEVMAPPER_TABLE = /^\[\s*plugins\s*\.\s*(?:devmapper|"io\.containerd\.snapshotter\.v1\.devmapper"|'io\.containerd\.snapshotter\.v1\.devmapper')\s*\]$/;
const KEY_VALUE = /^([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)')\s*(?:#.*)?$/;

export function parseContainerdConfig(text: string): ContainerdConfig {
  const out: ContainerdConfig = {};
  let table = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('[')) {
      table = DEVMAPPER_TABLE.test(line) ? 'devmapper' : line;
      continue;
    }
    const m = KEY_VALUE.exec(line);
    if (!m) continue;
    const value = m[2] !== undefined ? m[2].replace(/\\(["\\])/g, '$1') : m[3];
    if (table === '' && m[1] === 'root') out.root = value;
    if (table === '[grpc]' && m[1] === 'address') out.grpcAddress = value;
    if (table !== 'devmapper') continue;
    if (m[1] === 'pool_name') out.poolName = value;
    else if (m[1] === 'root_path') out.rootPath = value;
    else if (m[1] === 'base_image_size') out.baseImageSize = value;
  }
  return out;
}

export function readContainerdConfig(path: string): ContainerdConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read containerd's config ${path}: ${errnoWords(e)}`);
  }
  return parseContainerdConfig(text);
}
