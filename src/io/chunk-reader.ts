/**
 * Reads a file front to back in large chunks, the next ones already being
 * read on libuv's threads while the caller parses the current one. Pieces
 * come back as views into the chunk buffers (a piece that straddles two
 * chunks comes back as two views), so nothing is copied. Views stay valid
 * until the next take(), or longer for work the caller ties to them with
 * `hold`: a buffer is refilled only after both.
 */
import { closeSync, openSync } from 'node:fs';
import { readUpToAsync } from './full-io.js';

const CHUNK = 4 << 20;
const BUFFERS = 4;
/** The most one take() may ask for. */
export const MAX_TAKE = (BUFFERS - 2) * CHUNK;

interface Chunk {
  buf: Uint8Array;
  /** File offset of buf[0]. */
  start: number;
  len: number;
  ready: Promise<void>;
  error?: unknown;
  /** Work that still reads this buffer (writes of its bytes). */
  holds: Promise<unknown>[];
}

export class ChunkReader {
  private readonly fd: number;
  private readonly chunks: Chunk[] = [];
  private nextStart = 0;
  private eof = false;
  /** The chunk being parsed, and the position in the file. */
  private cur = 0;
  offset = 0;
  /** The read issued last: the next one starts after it. */
  private lastRead: Promise<void> = Promise.resolve();
  /** Chunks read to their end, refilled at the next take() (their views may still be in use until then). */
  private finished: Chunk[] = [];

  constructor(readonly path: string) {
    this.fd = openSync(path, 'r');
    for (let i = 0; i < BUFFERS; i++) this.chunks.push({ buf: new Uint8Array(CHUNK), start: 0, len: 0, ready: Promise.resolve(), holds: [] });
    for (const c of this.chunks) this.fill(c);
  }

  private fill(c: Chunk): void {
    c.start = this.nextStart;
    this.nextStart += CHUNK;
    c.error = undefined;
    const holds = c.holds;
    c.holds = [];
    // One read at a time, in file order: reads at several offsets at once defeat the kernel's readahead on a cold file.
    c.ready = Promise.all([...holds, this.lastRead])
      .then(() => (this.eof ? 0 : readUpToAsync(this.fd, c.buf, CHUNK, c.start)))
      .then(
        (n) => {
          c.len = n;
          if (n < CHUNK) this.eof = true;
        },
        (e) => {
          c.error = e;
          c.len = 0;
        },
      );
    this.lastRead = c.ready;
  }

  /**
   * The next `n` bytes as one or two views (empty when the file ends
   * first: fewer bytes than asked, the caller says what that means).
   */
  async take(n: number): Promise<Uint8Array[]> {
    // A chunk is refilled only at the next take: one take may span all but one of them.
    if (n > MAX_TAKE) throw new RangeError(`ChunkReader.take(${n}): at most ${MAX_TAKE} bytes at a time`);
    this.refill();
    const parts: Uint8Array[] = [];
    let want = n;
    while (want > 0) {
      const c = this.chunks[this.cur];
      await c.ready;
      if (c.error) throw c.error;
      const at = this.offset - c.start;
      const have = c.len - at;
      if (have <= 0) {
        if (c.len < CHUNK) return parts; // the end of the file
        this.advance();
        continue;
      }
      const k = Math.min(have, want);
      parts.push(c.buf.subarray(at, at + k));
      this.offset += k;
      want -= k;
      if (at + k === CHUNK) this.advance();
    }
    return parts;
  }

  /** Keeps the buffers `parts` view from being refilled until `p` settles. */
  hold(parts: readonly Uint8Array[], p: Promise<unknown>): void {
    for (const part of parts) for (const c of this.chunks) if (part.buffer === c.buf.buffer) c.holds.push(p);
  }

  /** Whether the file has no byte left. */
  async atEnd(): Promise<boolean> {
    this.refill();
    for (;;) {
      const c = this.chunks[this.cur];
      await c.ready;
      if (c.error) throw c.error;
      if (this.offset - c.start < c.len) return false;
      if (c.len < CHUNK) return true;
      this.advance();
    }
  }

  private advance(): void {
    this.finished.push(this.chunks[this.cur]);
    this.cur = (this.cur + 1) % BUFFERS;
  }

  /** The chunks read to their end are refilled with the next unread parts of the file. */
  private refill(): void {
    for (const c of this.finished) this.fill(c);
    this.finished = [];
  }

  async close(): Promise<void> {
    this.eof = true; // nothing more is read
    this.refill();
    await Promise.all(this.chunks.map((c) => c.ready.then(() => Promise.all(c.holds))));
    closeSync(this.fd);
  }
}
