/**
 * A Docker devicemapper root as a pool source (thin/pool-source.ts): the
 * same metadata and data files `docker ls` and `docker export` read
 * (ROOT/devicemapper/devicemapper/{metadata,data}, or the --metadata and
 * --data of a direct-lvm setup), with Docker's records beside them.
 */
import { existsSync } from 'node:fs';
import type { PoolSource } from '../thin/pool-source.js';
import { type DockerTree, type ReadOptions, readDockerTree } from './tree.js';

export interface DockerPoolSource extends PoolSource {
  readonly kind: 'docker';
  readonly metadata: string;
  readonly data: string;
  /** What Docker recorded: its devices, their hashes and sizes. */
  readonly tree: DockerTree;
}

/**
 * Reads Docker's records under `root` (a UsageError when it is not a
 * devicemapper root) and names its pool's files; nothing else is opened
 * until a reader opens it. Docker's files are never written.
 */
export function openDockerPool(root: string, options: ReadOptions = {}): DockerPoolSource {
  const tree = readDockerTree(root, options);
  return {
    kind: 'docker',
    name: tree.poolName,
    metadata: tree.metadataFile,
    data: tree.dataFile,
    // Docker names the pool's dm device after the root's device and inode: it exists only where Docker (or docker activate) runs it.
    running: existsSync(`/dev/mapper/${tree.poolName}`) ? tree.poolName : undefined,
    files: [tree.metadataFile, tree.dataFile],
    writable: false,
    repairCommand: `dmthin repair -i ${tree.metadataFile} -o NEW`,
    doctorCommand: `dmthin docker doctor ${root}${options.metadata ? ` --metadata ${options.metadata}` : ''}${options.data ? ` --data ${options.data}` : ''}`,
    tree,
    close: () => {},
  };
}
