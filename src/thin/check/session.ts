/**
 * The metadata a check reads and its two writes (check-and-fix.ts) go
 * through: opened once, read-write only when a write was asked and the
 * kernel does not hold it. Each pass reads it through a reader of its own
 * (a fresh cache sees what the last writes made) over the one handle.
 */
import { UsageError } from '../../errors.js';
import { BlockReader } from '../../io/block-reader.js';
import { BlockWriter } from '../../io/block-writer.js';
import { type ByteSource, FileSource } from '../../io/byte-source.js';
import { errnoWords, statInput } from '../../io/files.js';
import { refuseIfHeld } from '../../io/held.js';

export class CheckSession {
  private constructor(
    private readonly source: ByteSource,
    /** The read-write descriptor, when the metadata was opened so. */
    private readonly fd: number | undefined,
    /** Why it may not be written (held by the kernel; not writable), said when a write is first needed. */
    private readonly refusal: UsageError | undefined,
    private readonly cannotWrite: UsageError | undefined,
  ) {}

  /**
   * Opens a file or device, or takes a ByteSource (read only: the caller
   * refuses writes to it). A failure to open throws the UsageError a
   * reader would (check turns it into its 'input' finding).
   */
  static open(input: string | ByteSource, write: boolean): CheckSession {
    if (typeof input !== 'string') return new CheckSession(input, undefined, undefined, undefined);
    if (!write) return new CheckSession(new FileSource(input), undefined, undefined, undefined);
    statInput(input, 'metadata');
    let refusal: UsageError | undefined;
    try {
      refuseIfHeld(input, 'metadata', "an active pool's metadata must not be written; check a metadata snapshot (-m) instead");
    } catch (e) {
      if (!(e instanceof UsageError)) throw e;
      refusal = e;
    }
    if (!refusal) {
      try {
        const rw = new FileSource(input, 'metadata', 'r+');
        return new CheckSession(rw, rw.fd, undefined, undefined);
      } catch (e) {
        // Not writable (permissions, a read-only device): still checked; refused only if a write is needed.
        const cause = (e as { cause?: unknown }).cause;
        if (!(e instanceof UsageError) || cause === undefined) throw e;
        return new CheckSession(new FileSource(input), undefined, undefined, new UsageError(`cannot write ${input}: ${errnoWords(cause)}`));
      }
    }
    return new CheckSession(new FileSource(input), undefined, refusal, undefined);
  }

  /** A reader of the metadata as it is now (its own cache); closing it leaves the handle open. */
  reader(): BlockReader {
    const s = this.source;
    return new BlockReader({
      name: s.name,
      size: s.size,
      readAt: (dst, position) => s.readAt(dst, position),
      readAtAsync: (dst, position) => s.readAtAsync(dst, position),
      close: () => {},
    });
  }

  /** Throws if the metadata may not be written: the kernel holds it, or it is not a file or device this session opened read-write. */
  mayWrite(): void {
    if (this.refusal) throw this.refusal;
  }

  /** A writer through the same handle (closing it leaves the handle open). */
  writer(): BlockWriter {
    this.mayWrite();
    if (this.cannotWrite) throw this.cannotWrite;
    if (this.fd === undefined) throw new UsageError(`${this.source.name} is read in place and never written`);
    return new BlockWriter(this.source.name, 256, false, this.fd);
  }

  close(): void {
    this.source.close();
  }
}
