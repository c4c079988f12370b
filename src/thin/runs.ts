/**
 * A pull iterator over one thin device's runs: consecutive virtual blocks
 * on consecutive data blocks, in virtual block order, read one leaf at a
 * time (strict: the first damaged node throws). Times are ignored, as
 * thin_delta ignores them. For walks that advance in step with something
 * else: two trees (delta), or the writes of a send.
 */
import { LeafCursor } from '../pdata/btree/cursor.js';
import type { Metadata } from './metadata.js';

export class RunStream {
  private readonly cursor: LeafCursor;
  private nextV = -1;
  private nextD = -1;
  done = false;
  vbegin = 0;
  dbegin = 0;
  len = 0;

  constructor(md: Metadata, root: number, devId: number, skip?: (loc: number) => boolean) {
    this.cursor = new LeafCursor(md.reader, root, { kind: 'mappings', devId }, skip);
    if (this.cursor.next()) {
      this.nextV = this.cursor.key;
      this.nextD = this.cursor.dataBlock;
    }
    this.advance();
  }

  /** Loads the next whole run; done when there is none. */
  advance(): void {
    if (this.nextV < 0) {
      this.done = true;
      return;
    }
    this.vbegin = this.nextV;
    this.dbegin = this.nextD;
    this.len = 1;
    this.nextV = -1;
    while (this.cursor.next()) {
      const v = this.cursor.key;
      const d = this.cursor.dataBlock;
      if (v === this.vbegin + this.len && d === this.dbegin + this.len) {
        this.len++;
      } else {
        this.nextV = v;
        this.nextD = d;
        break;
      }
    }
  }

  consume(n: number): void {
    if (n === this.len) this.advance();
    else {
      this.vbegin += n;
      this.dbegin += n;
      this.len -= n;
    }
  }
}
