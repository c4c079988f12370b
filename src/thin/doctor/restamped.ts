/**
 * The metadata as it would read with its superblock's checksum made good:
 * a read-only view (nothing is written) for judging the rest of metadata
 * whose superblock is torn or bit-flipped but whose fields hold. check
 * stops at a bad superblock checksum; the space maps, leaks and free
 * metadata blocks it would find beyond are what the admin needs to know,
 * and what repair will use (it trusts such a superblock's fields too).
 */
import { BLOCK_SIZE, Salt, stampChecksum } from '../../format/checksum.js';
import { type ByteSource, FileSource } from '../../io/byte-source.js';

export class RestampedSuperblock implements ByteSource {
  readonly name: string;
  readonly size: number;
  private readonly block0: Uint8Array;
  private readonly inner: ByteSource;
  private readonly owned: boolean;

  constructor(metadata: string | ByteSource) {
    this.owned = typeof metadata === 'string';
    this.inner = typeof metadata === 'string' ? new FileSource(metadata) : metadata;
    this.name = this.inner.name;
    this.size = this.inner.size;
    this.block0 = new Uint8Array(BLOCK_SIZE);
    this.inner.readAt(this.block0, 0);
    stampChecksum(this.block0, Salt.superblock);
  }

  readAt(dst: Uint8Array, position: number): void {
    this.inner.readAt(dst, position);
    this.overlay(dst, position);
  }

  async readAtAsync(dst: Uint8Array, position: number): Promise<void> {
    await this.inner.readAtAsync(dst, position);
    this.overlay(dst, position);
  }

  private overlay(dst: Uint8Array, position: number): void {
    if (position >= BLOCK_SIZE) return;
    const n = Math.min(BLOCK_SIZE - position, dst.length);
    dst.set(this.block0.subarray(position, position + n), 0);
  }

  close(): void {
    if (this.owned) this.inner.close();
  }
}
