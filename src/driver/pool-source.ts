/**
 * A live pool as a pool source (thin/pool-source.ts): its metadata device
 * read at a metadata snapshot the kernel holds for the while (the kernel
 * rewrites the live metadata as it runs; the snapshot stays still). The
 * snapshot is reserved before `use` runs and always released after,
 * however it ends; one another tool already holds is used and left held.
 *
 * ```ts
 * await withLivePool('pool0', (src) => { const md = openMetadata(src); try { ... } finally { md.close(); } });
 * ```
 */
import type { PoolSource } from '../thin/pool-source.js';
import { Pool } from './pool.js';

export interface LivePoolSource extends PoolSource {
  readonly kind: 'live';
  readonly metadata: string;
  readonly data: string;
  readonly running: string;
  readonly metadataSnap: number;
}

/** Opens the active pool `name` (a UsageError when there is none) and runs `use` on it through a held metadata snapshot. */
export async function withLivePool<T>(name: string, use: (source: LivePoolSource) => T | Promise<T>): Promise<T> {
  const pool = await Pool.open(name);
  return pool.withMetadataSnap((metadataDevice, heldRoot) =>
    use({
      kind: 'live',
      name: pool.name,
      metadata: metadataDevice,
      data: pool.dataDevice,
      running: pool.name,
      metadataSnap: heldRoot,
      // What a read of it opens: an output there would overwrite the metadata being read.
      files: [metadataDevice],
      writable: false,
      repairCommand: `dmthin repair -i ${metadataDevice} -o NEW`,
      doctorCommand: `dmthin pool doctor ${pool.name}`,
      close: () => {},
    }),
  );
}
