/**
 * What the bbolt tests share: images in memory as ByteSources, finding pages
 * of a kind in an image, and changing a meta without breaking its checksum.
 */
import { gunzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { BoltEntry, BoltBucket } from '../../../src/format/bbolt/bucket.js';
import { BoltDb } from '../../../src/format/bbolt/db.js';
import { BoltError } from '../../../src/format/bbolt/errors.js';
import { type Meta, parseMeta, writeMeta } from '../../../src/format/bbolt/meta.js';
import { type PageHeader, parsePageHeader, writePageHeader } from '../../../src/format/bbolt/page.js';
import type { ByteSource } from '../../../src/io/byte-source.js';

/** An image in memory; reads past its end give zeros, as FileSource's do. */
export class MemSource implements ByteSource {
  readonly size: number;
  reads = 0;
  constructor(
    readonly name: string,
    readonly bytes: Uint8Array,
  ) {
    this.size = bytes.length;
  }
  readAt(dst: Uint8Array, position: number): void {
    this.reads++;
    dst.fill(0);
    if (position < this.size) dst.set(this.bytes.subarray(position, Math.min(this.size, position + dst.length)));
  }
  async readAtAsync(dst: Uint8Array, position: number): Promise<void> {
    this.readAt(dst, position);
  }
  close(): void {}
}

export function openImage(image: Uint8Array, name = 'test.db'): BoltDb {
  return new BoltDb(new MemSource(name, image));
}

/** The real bbolt file beside these tests (real/make-real-db.go). */
export function realImage(): Uint8Array {
  return new Uint8Array(gunzipSync(readFileSync(join(import.meta.dirname, 'real', 'real-bbolt.db.gz'))));
}

const where = { file: 'test', page: 0 };

/** Page ids in `image` whose header names them and has `flags`, in order. */
export function pagesOf(image: Uint8Array, flags: number, pageSize = 4096): number[] {
  const ids: number[] = [];
  for (let id = 0; (id + 1) * pageSize <= image.length; id++) {
    const h = parsePageHeader(image.subarray(id * pageSize), where);
    if (h.id === id && h.flags === flags) ids.push(id);
  }
  return ids;
}

export function headerAt(image: Uint8Array, id: number, pageSize = 4096): PageHeader {
  return parsePageHeader(image.subarray(id * pageSize), where);
}

/** Rewrites page `id`'s header with `change` applied. */
export function patchHeader(image: Uint8Array, id: number, change: Partial<PageHeader>, pageSize = 4096): void {
  const page = image.subarray(id * pageSize);
  writePageHeader({ ...parsePageHeader(page, where), ...change }, page);
}

export function metaAt(image: Uint8Array, page: 0 | 1, pageSize = 4096): Meta {
  return parseMeta(image.subarray(page * pageSize), where);
}

/** Rewrites meta `page` with `change` applied and its checksum stamped again: damage bbolt's checks cannot see. */
export function patchMeta(image: Uint8Array, page: 0 | 1, change: Partial<Meta>, pageSize = 4096): void {
  const bytes = image.subarray(page * pageSize, (page + 1) * pageSize);
  writeMeta({ ...parseMeta(bytes, where), ...change }, bytes);
}

/** The page of the current meta. */
export function currentMetaPage(image: Uint8Array, pageSize = 4096): 0 | 1 {
  return metaAt(image, 1, pageSize).txid > metaAt(image, 0, pageSize).txid ? 1 : 0;
}

const text = new TextDecoder();

/** A bucket as a plain object, recursively: strings for UTF-8 values, nested objects for sub-buckets. */
export function plain(bucket: BoltBucket): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const e of bucket.entries() as Iterable<BoltEntry>) out[text.decode(e.key)] = e.bucket ? plain(e.bucket) : text.decode(e.value);
  return out;
}

/** Runs `f` and returns the BoltError it must throw (any other error, or none, fails the test). */
export function boltErrorOf(f: () => unknown): BoltError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(BoltError);
    return e as BoltError;
  }
  throw new Error('expected a BoltError, got none');
}
