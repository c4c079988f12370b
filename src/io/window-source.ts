/**
 * A byte range of another source as a source of its own: a partition of a
 * guest disk read through the thin device that holds the disk.
 */
import type { ByteSource } from './byte-source.js';

export class WindowSource implements ByteSource {
  constructor(
    readonly name: string,
    private readonly inner: ByteSource,
    /** Where the window starts in `inner`, in bytes. */
    readonly start: number,
    readonly size: number,
  ) {}

  readAt(dst: Uint8Array, position: number): void {
    this.inner.readAt(dst, this.start + position);
  }

  async readAtAsync(dst: Uint8Array, position: number): Promise<void> {
    await this.inner.readAtAsync(dst, this.start + position);
  }

  /** The inner source belongs to the caller. */
  close(): void {}
}
