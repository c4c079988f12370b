/**
 * Who a stream is from and what it carries (docs/stream.md): the pool's
 * identity (its superblock uuid, or only its data block size when the uuid
 * is zeros, as it is in practice: the block count changes when the pool
 * grows, and a grown pool must not break a chain of backups) and a
 * snapshot's (the pool identity, the device id, its details and its
 * mapping tree's root block, which any committed write to the device moves:
 * one state of one device).
 */
import { lazyCrypto } from '../builtins.js';
import type { Superblock } from '../format/superblock.js';
import type { ThinDevice } from '../thin/metadata.js';

const u64 = (n: number | bigint): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
};

export function poolIdentity(sb: Superblock): Uint8Array {
  const h = lazyCrypto().createHash('sha256');
  if (sb.uuid.some((x) => x !== 0)) h.update(Buffer.from('uuid')).update(sb.uuid);
  else h.update(Buffer.from('block-size')).update(u64(sb.dataBlockSize));
  return new Uint8Array(h.digest());
}

export function snapshotIdentity(pool: Uint8Array, d: ThinDevice): Uint8Array {
  return new Uint8Array(
    lazyCrypto()
      .createHash('sha256')
      .update(pool)
      .update(u64(d.devId))
      .update(u64(d.creationTime))
      .update(u64(d.snapshottedTime))
      .update(u64(d.transactionId))
      .update(u64(d.mappedBlocks))
      .update(u64(d.mappingRoot ?? 0))
      .digest(),
  );
}

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
