/**
 * The one error of the bbolt reader: bytes of a bbolt file (containerd's
 * meta.db, metadata.db, the devmapper snapshotter's POOL.db) that cannot be
 * what the format says. Every check of a page, an element, a meta or a bucket
 * value throws it, so that a caller handling untrusted files needs to catch
 * one class, and a report can say which file and page to look at.
 */

/** A problem seen at one page of one bbolt file (or in the file as a whole). */
export class BoltError extends Error {
  constructor(
    /** The file, as its ByteSource names it. */
    readonly file: string,
    /** The page where the problem was seen; undefined when it is the file's (too short to hold the metas). */
    readonly page: number | undefined,
    /** What the format requires there, in words ("a leaf or branch page"). */
    readonly expected: string,
    /** What the bytes hold instead ("flags 0x10"). */
    readonly found: string,
  ) {
    // One line, no stack in the words: the CLI prints messages as they are.
    super(`${file}: ${page === undefined ? '' : `page ${page}: `}expected ${expected}, found ${found}`);
    this.name = 'BoltError';
  }
}

/**
 * Where a codec is reading: the file and the page, for its errors. Codecs know
 * no file; their callers pass this so that an error names both.
 */
export interface BoltWhere {
  readonly file: string;
  readonly page: number;
}

/** Throws the BoltError for `where`. A helper so that codecs read as checks. */
export function boltFail(where: BoltWhere, expected: string, found: string): never {
  throw new BoltError(where.file, where.page, expected, found);
}

/** `0x10`: flags and magic numbers in the form bbolt's own messages use. */
export function hex(n: number): string {
  return `0x${n.toString(16)}`;
}
