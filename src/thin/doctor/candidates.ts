/**
 * Candidates: data blocks the newest data space map counts used that
 * nothing maps after the best repair: lost data may still be in them.
 * Each is matched to the lost ranges where evidence allows, and every
 * match carries its evidence as text. Matching is inference only: it is
 * never written into repaired metadata (the kit offers it as a separate,
 * labelled image).
 *
 * Evidence, each read-only:
 * - an older copy of a mapping leaf, anywhere in the metadata, that
 *   mapped a lost virtual block to the candidate (repair may have refused
 *   it as ambiguous or stale: here it only says where to look);
 * - the same virtual block in another device (a snapshot or origin),
 *   compared byte-wise with the candidate, when the data is given;
 * - an ext4 or XFS superblock in the candidate whose UUID is the one the
 *   device's filesystem has elsewhere (ext4's copy says which block group
 *   it is, so it says the offset too).
 */
import type { BlockReader } from '../../io/block-reader.js';
import type { ByteSource } from '../../io/byte-source.js';
import { inRanges } from '../repair/lost.js';
import { lookupMapping } from './lookup.js';
import type { OlderEntry } from './older-leaves.js';
import type { Candidate, CandidateMatch, DeviceReport } from './report.js';

export interface MatchDevice {
  report: DeviceReport;
  root: number | undefined;
  /** Recovered mappings (virtual -> data), which also map. */
  recovered: ReadonlyMap<number, number>;
}

export interface MatchInput {
  reader: BlockReader;
  blockBytes: number;
  devices: readonly MatchDevice[];
  data?: ByteSource;
  /** Entries of mapping leaves found by scanning the metadata at lost keys (older-leaves.ts). */
  older: readonly OlderEntry[];
  onStage?: (stage: string) => void;
}

/** Lookups of other devices' mappings at lost blocks beyond this many are not made (a pool of many devices, large lost ranges). */
const MAX_LOOKUPS = 200_000;

/** 4 KiB of content alike at least: less is no evidence of where a block came from. */
const MIN_EQUAL_SECTORS = 8;

/** Reads in the data beyond this many bytes are not made for matching (a very leaky pool). */
const MAX_COMPARE_BYTES = 1 << 30;

export function matchCandidates(candidates: Candidate[], input: MatchInput): void {
  const lossy = input.devices.filter((d) => d.report.lost.length > 0);
  if (candidates.length === 0 || lossy.length === 0) return;
  const byBlock = new Map(candidates.map((c) => [c.dataBlock, c]));
  const add = (c: Candidate, m: CandidateMatch): void => {
    if (!c.matches.some((x) => x.deviceId === m.deviceId && x.offset === m.offset && x.evidence === m.evidence)) c.matches.push(m);
  };
  olderLeaves(input, byBlock, lossy, add);
  if (input.data) {
    input.onStage?.('comparing candidate blocks with the data');
    const budget = { bytes: MAX_COMPARE_BYTES, lookups: MAX_LOOKUPS };
    filesystems(input, candidates, lossy, add, budget);
    relatives(input, candidates, lossy, add, budget);
  }
  for (const c of candidates) c.matches.sort((a, b) => a.deviceId - b.deviceId || a.offset - b.offset);
}

/** Older copies of leaves (older-leaves.ts) that mapped a lost virtual block to a candidate. */
function olderLeaves(input: MatchInput, byBlock: Map<number, Candidate>, lossy: readonly MatchDevice[], add: (c: Candidate, m: CandidateMatch) => void): void {
  const { blockBytes } = input;
  const seen = new Map<string, number[]>();
  for (const e of input.older) {
    if (!byBlock.has(e.data)) continue;
    const offset = e.key * blockBytes;
    for (const d of lossy) {
      if (!inRanges(d.report.lost, offset)) continue;
      const k = `${e.data}:${d.report.deviceId}:${offset}:${e.time}`;
      const at = seen.get(k);
      if (at) at.push(e.block);
      else seen.set(k, [e.block]);
    }
  }
  for (const [k, blocks] of seen) {
    const [data, dev, offset, time] = k.split(':').map(Number);
    const c = byBlock.get(data);
    if (!c) continue;
    add(c, {
      deviceId: dev,
      offset,
      evidence:
        `an older copy of a mapping leaf (metadata block${blocks.length > 1 ? 's' : ''} ${blocks.join(', ')}) mapped virtual block ${offset / blockBytes} ` +
        `to data block ${data} at time ${time}; the repair did not take it (an older copy counts only where the newest space map vouches for it alone)`,
    });
  }
}

function readData(input: MatchInput, block: number, budget: { bytes: number; lookups: number }): Uint8Array | undefined {
  const data = input.data;
  if (!data || budget.bytes < input.blockBytes) return undefined;
  const at = block * input.blockBytes;
  if (at + input.blockBytes > data.size) return undefined;
  budget.bytes -= input.blockBytes;
  const buf = new Uint8Array(input.blockBytes);
  data.readAt(buf, at);
  return buf;
}

/** The data block a device maps at virtual block v, from its tree or its recovered mappings. */
function mapped(input: MatchInput, d: MatchDevice, v: number): number | undefined {
  return d.recovered.get(v) ?? lookupMapping(input.reader, d.root, v);
}

/**
 * Byte-wise: the same virtual block in another device (a snapshot
 * relative), sector by sector. A candidate and a lost block are paired
 * only when each is the other's one best match: similar blocks (a file's
 * neighbouring blocks) would otherwise each match every offset.
 */
function relatives(
  input: MatchInput,
  candidates: readonly Candidate[],
  lossy: readonly MatchDevice[],
  add: (c: Candidate, m: CandidateMatch) => void,
  budget: { bytes: number; lookups: number },
): void {
  const { blockBytes } = input;
  // Sector fingerprints, made once: every candidate is compared with every reference block.
  const blocks = new Map<number, Uint32Array>();
  for (const c of candidates) {
    const b = readData(input, c.dataBlock, budget);
    if (b) blocks.set(c.dataBlock, sectorPrints(b));
  }
  const pairs: Array<{ c: Candidate; dev: number; off: number; equal: number; total: number; evidence: string }> = [];
  for (const d of lossy) {
    for (const r of d.report.lost) {
      for (let off = r.offset; off < r.offset + r.length && budget.bytes > 0 && budget.lookups > 0; off += blockBytes) {
        const v = off / blockBytes;
        for (const other of input.devices) {
          if (other === d) continue;
          if (--budget.lookups < 0) break;
          const db = mapped(input, other, v);
          if (db === undefined) continue;
          const refBytes = readData(input, db, budget);
          if (!refBytes) continue;
          const ref = sectorPrints(refBytes);
          for (const c of candidates) {
            const cb = blocks.get(c.dataBlock);
            if (!cb) continue;
            const same = sameSectors(cb, ref);
            // Half the sectors unchanged: an edit of that block, not chance.
            if (same.equal * 2 >= same.total && same.equal >= MIN_EQUAL_SECTORS) {
              pairs.push({
                c,
                dev: d.report.deviceId,
                off,
                ...same,
                evidence: `${same.equal} of its ${same.total} 512-byte sectors with content (not one byte repeated) equal those of data block ${db}, which thin device ${other.report.deviceId} maps at the same virtual block ${v}`,
              });
            }
          }
        }
      }
    }
  }
  // A pair counts only when each is the other's one best: blocks of one file are alike, and a tie says nothing.
  const score = (p: { equal: number; total: number }): number => p.equal / p.total;
  const bestOf = new Map<string, number[]>();
  const note = (k: string, v: number): void => {
    const b = bestOf.get(k) ?? [];
    b.push(v);
    bestOf.set(k, b.sort((x, y) => y - x).slice(0, 2));
  };
  for (const p of pairs) {
    note(`c${p.c.dataBlock}`, score(p));
    note(`o${p.dev}:${p.off}`, score(p));
  }
  const unique = (k: string, v: number): boolean => {
    const b = bestOf.get(k) ?? [];
    return b[0] === v && (b.length < 2 || b[1] < v);
  };
  for (const p of pairs) {
    if (unique(`c${p.c.dataBlock}`, score(p)) && unique(`o${p.dev}:${p.off}`, score(p))) add(p.c, { deviceId: p.dev, offset: p.off, evidence: p.evidence });
  }
}

/**
 * A fingerprint per 512-byte sector (FNV-1a), 0 for a sector of one byte
 * repeated (zeros, fill: they say nothing of where a block came from).
 */
function sectorPrints(b: Uint8Array): Uint32Array {
  const out = new Uint32Array(b.length >>> 9);
  for (let s = 0; s < out.length; s++) {
    const at = s << 9;
    const first = b[at];
    let uniform = true;
    let h = 0x811c9dc5;
    for (let i = at; i < at + 512; i++) {
      if (b[i] !== first) uniform = false;
      h = Math.imul(h ^ b[i], 0x01000193);
    }
    out[s] = uniform ? 0 : h >>> 0 || 1;
  }
  return out;
}

/** Sectors of `a` (not one byte repeated) whose fingerprint `b` has at the same place. */
function sameSectors(a: Uint32Array, b: Uint32Array): { equal: number; total: number } {
  let equal = 0;
  let total = 0;
  for (let s = 0; s < a.length; s++) {
    if (a[s] === 0) continue;
    total++;
    if (a[s] === b[s]) equal++;
  }
  return { equal, total };
}

interface FsSuper {
  kind: 'ext4' | 'XFS';
  uuid: string;
  /** The superblock's byte offset in its filesystem, when it says so (ext4's block group). */
  fsOffset?: number;
  /** Where its group 1 copy is, to find the device's UUID when the primary is lost. */
  copyOffset?: number;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** An ext4 or XFS superblock starting at `p` of `b`, if one is there. */
function fsSuperAt(b: Uint8Array, p: number): FsSuper | undefined {
  const dv = new DataView(b.buffer, b.byteOffset, b.length);
  if (p + 1024 <= b.length && dv.getUint16(p + 0x38, true) === 0xef53) {
    const logBlock = dv.getUint32(p + 0x18, true);
    const perGroup = dv.getUint32(p + 0x20, true);
    const firstData = dv.getUint32(p + 0x14, true);
    if (logBlock > 6 || perGroup === 0) return undefined;
    const bs = 1024 << logBlock;
    const group = dv.getUint16(p + 0x5a, true);
    const groupOffset = (g: number): number => (g === 0 ? 1024 : (g * perGroup + firstData) * bs);
    return { kind: 'ext4', uuid: hex(b.subarray(p + 0x68, p + 0x78)), fsOffset: groupOffset(group), copyOffset: groupOffset(1) };
  }
  if (p + 512 <= b.length && dv.getUint32(p, false) === 0x58465342) {
    const bs = dv.getUint32(p + 4, false);
    const agBlocks = dv.getUint32(p + 84, false);
    return { kind: 'XFS', uuid: hex(b.subarray(p + 32, p + 48)), copyOffset: bs > 0 && agBlocks > 0 ? bs * agBlocks : undefined };
  }
  return undefined;
}

/** The filesystem superblock a device holds at byte `offset` (through its surviving mappings), if any. */
function deviceSuper(input: MatchInput, d: MatchDevice, offset: number, budget: { bytes: number; lookups: number }): FsSuper | undefined {
  const v = Math.floor(offset / input.blockBytes);
  const db = mapped(input, d, v);
  if (db === undefined) return undefined;
  const b = readData(input, db, budget);
  return b ? fsSuperAt(b, offset - v * input.blockBytes) : undefined;
}

function filesystems(
  input: MatchInput,
  candidates: readonly Candidate[],
  lossy: readonly MatchDevice[],
  add: (c: Candidate, m: CandidateMatch) => void,
  budget: { bytes: number; lookups: number },
): void {
  const { blockBytes } = input;
  for (const c of candidates) {
    const b = readData(input, c.dataBlock, budget);
    if (!b) continue;
    for (let p = 0; p + 512 <= b.length; p += 1024) {
      // ext4's primary sits 1024 bytes into its block; its copies and XFS's at a block's start.
      const sb = fsSuperAt(b, p);
      if (!sb) continue;
      for (const d of lossy) {
        const primary = sb.kind === 'ext4' ? 1024 : 0;
        const theirs = deviceSuper(input, d, primary, budget) ?? (sb.copyOffset !== undefined ? deviceSuper(input, d, sb.copyOffset, budget) : undefined);
        if (!theirs || theirs.uuid !== sb.uuid || theirs.kind !== sb.kind) continue;
        const where = sb.fsOffset ?? 0;
        const offset = where - p;
        if (offset < 0 || offset % blockBytes !== 0 || !inRanges(d.report.lost, offset)) continue;
        const what =
          sb.kind === 'ext4'
            ? where === 1024
              ? 'the primary superblock'
              : `the copy of block group at byte ${where}`
            : 'an XFS superblock (the primary, or an allocation group copy)';
        add(c, {
          deviceId: d.report.deviceId,
          offset,
          evidence: `holds ${what} of an ${sb.kind} filesystem with UUID ${sb.uuid} at byte ${p} of the block: thin device ${d.report.deviceId}'s surviving data has the same UUID; that places this block at offset ${offset}`,
        });
      }
    }
  }
}
