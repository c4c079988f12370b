/**
 * A streaming reader for thin_dump XML. It knows the handful of elements
 * the format has and parses numeric attributes straight from bytes, so a
 * ten-million-mapping file is read in fixed memory and without a string
 * per attribute.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { UsageError } from '../../errors.js';
import { fileError, statInput } from '../../io/files.js';

export enum Tag {
  Superblock = 1,
  Device,
  RangeMapping,
  SingleMapping,
  Def,
  Ref,
}

/** Attribute slots; numeric values land in XmlElement.num[slot]. */
export enum Attr {
  Uuid = 0,
  Time,
  Transaction,
  Flags,
  Version,
  DataBlockSize,
  NrDataBlocks,
  MetadataSnap,
  DevId,
  MappedBlocks,
  CreationTime,
  SnapTime,
  OriginBegin,
  DataBegin,
  Length,
  OriginBlock,
  DataBlock,
  Name,
  Count,
}

const TAGS: Record<string, Tag> = {
  superblock: Tag.Superblock,
  device: Tag.Device,
  range_mapping: Tag.RangeMapping,
  single_mapping: Tag.SingleMapping,
  def: Tag.Def,
  ref: Tag.Ref,
};

const ATTRS: Record<string, Attr> = {
  uuid: Attr.Uuid,
  time: Attr.Time,
  transaction: Attr.Transaction,
  flags: Attr.Flags,
  version: Attr.Version,
  data_block_size: Attr.DataBlockSize,
  nr_data_blocks: Attr.NrDataBlocks,
  metadata_snap: Attr.MetadataSnap,
  dev_id: Attr.DevId,
  mapped_blocks: Attr.MappedBlocks,
  creation_time: Attr.CreationTime,
  snap_time: Attr.SnapTime,
  origin_begin: Attr.OriginBegin,
  data_begin: Attr.DataBegin,
  length: Attr.Length,
  origin_block: Attr.OriginBlock,
  data_block: Attr.DataBlock,
  name: Attr.Name,
};
const STRING_ATTRS = new Set<Attr>([Attr.Uuid, Attr.Name]);
/** u64 attributes kept in full (as their digits, in `str`): transaction ids may use all 64 bits. */
const U64_ATTRS = new Set<Attr>([Attr.Transaction]);

/** Names indexed by length then first byte, for matching bytes without making strings. */
function index<T>(table: Record<string, T>): Map<number, Array<[Uint8Array, T]>> {
  const m = new Map<number, Array<[Uint8Array, T]>>();
  for (const [k, v] of Object.entries(table)) {
    const list = m.get(k.length) ?? [];
    list.push([Buffer.from(k, 'latin1'), v]);
    m.set(k.length, list);
  }
  return m;
}
const TAG_INDEX = index(TAGS);
const ATTR_INDEX = index(ATTRS);

function match<T>(idx: Map<number, Array<[Uint8Array, T]>>, buf: Uint8Array, start: number, end: number): T | undefined {
  const list = idx.get(end - start);
  if (!list) return undefined;
  outer: for (const [name, v] of list) {
    for (let i = 0; i < name.length; i++) if (name[i] !== buf[start + i]) continue outer;
    return v;
  }
  return undefined;
}

export interface XmlElement {
  tag: Tag;
  /** 'open' <x ...>, 'close' </x>, 'empty' <x .../>. */
  kind: 'open' | 'close' | 'empty';
  /** Numeric attribute values by Attr slot; NaN when absent. Reused between calls. */
  num: Float64Array;
  /** String attributes (uuid, name). */
  str: Map<Attr, string>;
  /** Byte offset of the element in the input, for error messages. */
  offset: number;
}

export class XmlSyntaxError extends UsageError {
  constructor(
    readonly path: string,
    readonly line: number,
    message: string,
  ) {
    super(`${path}:${line}: ${message}`);
  }
}

/**
 * Calls `onElement` for every element of `path` in order. The element
 * object is reused: read what you need during the call.
 */
export function readXml(path: string, onElement: (e: XmlElement) => void, chunkSize = 1 << 22): void {
  // A regular file only: error messages read it again to find the line.
  if (!statInput(path, 'XML input').isFile()) throw new UsageError(`XML input ${path} is a block device: give the XML file thin_dump or dmthin dump wrote`);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw fileError('read XML input', path, e);
  }
  const el: XmlElement = { tag: Tag.Superblock, kind: 'open', num: new Float64Array(Attr.Count), str: new Map(), offset: 0 };
  let buf = Buffer.allocUnsafe(chunkSize);
  let have = 0; // bytes of buf in use
  let base = 0; // file offset of buf[0]
  let eof = false;
  const fail = (offset: number, msg: string): never => {
    throw new XmlSyntaxError(path, lineAt(path, offset), msg);
  };
  try {
    for (;;) {
      if (!eof) {
        if (have === buf.length) {
          const bigger = Buffer.allocUnsafe(buf.length * 2);
          buf.copy(bigger, 0, 0, have);
          buf = bigger;
        }
        const n = readSync(fd, buf, have, buf.length - have, null);
        if (n === 0) eof = true;
        // XML never holds a NUL byte: binary data (metadata itself?) is refused before any element.
        if (base === 0 && have === 0 && buf.subarray(0, Math.min(n, 4096)).includes(0)) {
          throw new UsageError(
            `${path} is not XML but binary data (metadata?): restore reads what thin_dump or dmthin dump wrote; to copy metadata use dd, or dmthin metadata pack/unpack`,
          );
        }
        have += n;
      }
      // Parse every complete element in buf[0, have).
      let p = 0;
      for (;;) {
        while (p < have && buf[p] !== 0x3c /* < */) p++;
        if (p >= have) break;
        // Mappings are nearly all of a dump: try their canonical form first.
        const end = matchMapping(buf, p + 1, have, el);
        if (end >= 0) {
          el.offset = base + p;
          onElement(el);
          p = end;
          continue;
        }
        const gt = buf.indexOf(0x3e /* > */, p);
        if (gt < 0 || gt >= have) break;
        parseElement(buf, p, gt, el, base + p, fail);
        if (el.tag !== (0 as Tag)) onElement(el);
        p = gt + 1;
      }
      // Keep the incomplete tail for the next read.
      if (eof) {
        if (p < have && buf.subarray(p, have).some((c) => c === 0x3c)) fail(base + p, 'the file ends inside an element');
        break;
      }
      buf.copy(buf, 0, p, have);
      base += p;
      have -= p;
    }
  } finally {
    closeSync(fd);
  }
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d;
}

function parseElement(buf: Uint8Array, lt: number, gt: number, el: XmlElement, offset: number, fail: (offset: number, msg: string) => never): void {
  let p = lt + 1;
  el.offset = offset;
  const first = buf[p];
  // Declarations, comments and processing instructions carry nothing for us.
  if (first === 0x3f /* ? */ || first === 0x21 /* ! */) {
    el.tag = 0 as Tag;
    return;
  }
  el.kind = 'open';
  if (first === 0x2f /* / */) {
    el.kind = 'close';
    p++;
  }
  const nameStart = p;
  while (p < gt && !isSpace(buf[p]) && buf[p] !== 0x2f) p++;
  const tag = match(TAG_INDEX, buf, nameStart, p);
  if (tag === undefined) {
    fail(offset, `unknown element <${Buffer.from(buf.subarray(nameStart, p)).toString('latin1')}>`);
  }
  el.tag = tag;
  if (el.kind === 'close') return;
  el.num.fill(NaN);
  el.str.clear();
  for (;;) {
    while (p < gt && isSpace(buf[p])) p++;
    if (p >= gt) break;
    if (buf[p] === 0x2f) {
      el.kind = 'empty';
      p++;
      continue;
    }
    const aStart = p;
    while (p < gt && buf[p] !== 0x3d /* = */ && !isSpace(buf[p])) p++;
    const aEnd = p;
    while (p < gt && isSpace(buf[p])) p++;
    if (buf[p] !== 0x3d) fail(offset, 'attribute without a value');
    p++;
    while (p < gt && isSpace(buf[p])) p++;
    const q = buf[p];
    if (q !== 0x22 && q !== 0x27) fail(offset, 'attribute value not quoted');
    const vStart = ++p;
    while (p < gt && buf[p] !== q) p++;
    if (p >= gt) fail(offset, 'unterminated attribute value');
    const vEnd = p++;
    const attr = match(ATTR_INDEX, buf, aStart, aEnd);
    if (attr === undefined) continue; // unknown attributes are ignored, as thin_restore does
    if (STRING_ATTRS.has(attr)) {
      el.str.set(attr, unescapeXml(Buffer.from(buf.subarray(vStart, vEnd)).toString('utf8')));
      continue;
    }
    let v = 0;
    if (vStart === vEnd) fail(offset, `empty value for ${Buffer.from(buf.subarray(aStart, aEnd)).toString('latin1')}`);
    if (U64_ATTRS.has(attr)) {
      const digits = Buffer.from(buf.subarray(vStart, vEnd)).toString('latin1');
      if (!/^\d+$/.test(digits) || BigInt(digits) > 0xffffffffffffffffn) {
        fail(offset, `${Buffer.from(buf.subarray(aStart, aEnd)).toString('latin1')}="${digits}" is not a u64 (0..18446744073709551615)`);
      }
      el.str.set(attr, digits);
      continue;
    }
    for (let i = vStart; i < vEnd; i++) {
      const d = buf[i] - 48;
      if (d < 0 || d > 9) {
        fail(
          offset,
          `${Buffer.from(buf.subarray(aStart, aEnd)).toString('latin1')}="${Buffer.from(buf.subarray(vStart, vEnd)).toString('latin1')}" is not a non-negative integer`,
        );
      }
      v = v * 10 + d;
    }
    if (v > Number.MAX_SAFE_INTEGER) fail(offset, 'number too large');
    el.num[attr] = v;
  }
}

const enc = (x: string): Uint8Array => new Uint8Array(Buffer.from(x, 'latin1'));
const SINGLE_HEAD = enc('ingle_mapping origin_block="');
const RANGE_HEAD = enc('ange_mapping origin_begin="');
const DATA_BLOCK = enc('" data_block="');
const DATA_BEGIN = enc('" data_begin="');
const LENGTH = enc('" length="');
const TIME = enc('" time="');

/** Where `digits` stopped; module state instead of a tuple per number. */
let numEnd = 0;

/** Matches literal `lit` at p; returns the offset after it or -1. */
function lit(buf: Uint8Array, p: number, limit: number, l: Uint8Array): number {
  const n = l.length;
  if (p + n >= limit) return -1;
  for (let j = 0; j < n; j++) if (buf[p + j] !== l[j]) return -1;
  return p + n;
}

/** A decimal number at p (1 to 15 digits), ending at numEnd; -1 if none. */
function digits(buf: Uint8Array, p: number, limit: number): number {
  const start = p;
  let v = 0;
  let d = buf[p] - 48;
  while (d >= 0 && d <= 9 && p < limit) {
    v = v * 10 + d;
    d = buf[++p] - 48;
  }
  if (p === start || p - start > 15) return -1;
  numEnd = p;
  return v;
}

/**
 * Matches a mapping element written exactly as thin_dump writes it, from
 * just after its '<', filling only its slots. Returns the offset after its
 * '>', or -1 (nothing consumed) for anything else, including an element cut
 * by the end of the buffer: those take the general path.
 */
function matchMapping(buf: Uint8Array, p: number, limit: number, el: XmlElement): number {
  const c = buf[p];
  const num = el.num;
  if (c === 0x73 /* s */) {
    if ((p = lit(buf, p + 1, limit, SINGLE_HEAD)) < 0) return -1;
    const origin = digits(buf, p, limit);
    if (origin < 0 || (p = lit(buf, numEnd, limit, DATA_BLOCK)) < 0) return -1;
    const data = digits(buf, p, limit);
    if (data < 0 || (p = lit(buf, numEnd, limit, TIME)) < 0) return -1;
    const time = digits(buf, p, limit);
    if (time < 0) return -1;
    p = numEnd;
    if (p + 2 >= limit || buf[p] !== 0x22 || buf[p + 1] !== 0x2f || buf[p + 2] !== 0x3e) return -1;
    num[Attr.OriginBlock] = origin;
    num[Attr.DataBlock] = data;
    num[Attr.Time] = time;
    el.tag = Tag.SingleMapping;
  } else if (c === 0x72 /* r */) {
    if ((p = lit(buf, p + 1, limit, RANGE_HEAD)) < 0) return -1;
    const origin = digits(buf, p, limit);
    if (origin < 0 || (p = lit(buf, numEnd, limit, DATA_BEGIN)) < 0) return -1;
    const data = digits(buf, p, limit);
    if (data < 0 || (p = lit(buf, numEnd, limit, LENGTH)) < 0) return -1;
    const length = digits(buf, p, limit);
    if (length < 0 || (p = lit(buf, numEnd, limit, TIME)) < 0) return -1;
    const time = digits(buf, p, limit);
    if (time < 0) return -1;
    p = numEnd;
    if (p + 2 >= limit || buf[p] !== 0x22 || buf[p + 1] !== 0x2f || buf[p + 2] !== 0x3e) return -1;
    num[Attr.OriginBegin] = origin;
    num[Attr.DataBegin] = data;
    num[Attr.Length] = length;
    num[Attr.Time] = time;
    el.tag = Tag.RangeMapping;
  } else {
    return -1;
  }
  el.kind = 'empty';
  return p + 3;
}

function unescapeXml(s: string): string {
  return s.replace(/&(amp|lt|gt|quot|apos);/g, (_m, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" })[e] ?? e);
}

/** The 1-based line of byte `offset` (only computed for error messages). */
export function lineAt(path: string, offset: number): number {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    let line = 1;
    let pos = 0;
    while (pos < offset) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, offset - pos), pos);
      if (n === 0) break;
      for (let i = 0; i < n; i++) if (buf[i] === 0x0a) line++;
      pos += n;
    }
    return line;
  } finally {
    closeSync(fd);
  }
}
