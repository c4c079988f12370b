/**
 * Standard input read as a stream is read (ChunkReader's take, for the
 * verifying walk) and copied, as it is taken, into a file: receive reads a
 * stream twice (verify, then apply), and a pipe can be read only once.
 * Nothing is read ahead of what the walk asks for, so a stream is staged
 * only as far as it has been found good: `receive -i - < /dev/zero` stops
 * at the header, having staged 256 bytes.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { UsageError } from '../errors.js';
import { MAX_TAKE } from '../io/chunk-reader.js';
import { errnoWords } from '../io/files.js';
import { writeFull } from '../io/full-io.js';

/** What the walk reads a stream through: ChunkReader, or this. */
export interface StreamSource {
  /** Bytes taken so far. */
  readonly offset: number;
  take(n: number): Promise<Uint8Array[]>;
  hold(parts: readonly Uint8Array[], p: Promise<unknown>): void;
  atEnd(): Promise<boolean>;
  close(): Promise<void>;
}

export class StagedStdin implements StreamSource {
  offset = 0;
  private readonly out: number;

  constructor(
    /** The file the bytes are copied into (created; the caller removes it). */
    readonly stage: string,
    private readonly fd = 0,
  ) {
    this.out = openSync(stage, 'wx', 0o600);
  }

  /** Up to `n` bytes from `fd` (fewer at its end), blocking until they come. */
  private read(n: number): Uint8Array {
    const b = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      let k: number;
      try {
        k = readSync(this.fd, b, got, n - got, null);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN') continue; // a non-blocking pipe with nothing in it yet
        if (code === 'EOF') break;
        throw e;
      }
      if (k <= 0) break;
      got += k;
    }
    return got === n ? b : b.subarray(0, got);
  }

  async take(n: number): Promise<Uint8Array[]> {
    if (n > MAX_TAKE) throw new RangeError(`StagedStdin.take(${n}): at most ${MAX_TAKE} bytes at a time`);
    const b = this.read(n);
    try {
      writeFull(this.out, b, b.length, this.offset);
    } catch (e) {
      throw new UsageError(`cannot stage standard input in ${this.stage}: ${errnoWords(e)}`);
    }
    this.offset += b.length;
    return b.length > 0 ? [b] : [];
  }

  /** Each take's bytes are its own array: nothing to hold. */
  hold(): void {}

  /** Whether standard input has ended; a byte read to find out is not staged (the walk refuses the stream then). */
  async atEnd(): Promise<boolean> {
    return this.read(1).length === 0;
  }

  async close(): Promise<void> {
    closeSync(this.out);
  }
}
