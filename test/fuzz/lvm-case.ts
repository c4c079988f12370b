/**
 * One LVM fuzz case: a seeded mutation of lvm2-made PV images (label and
 * pv_header fields, mda header and raw_locn, the metadata ring, the VG
 * text's grammar and values, partition tables, multi-PV VGs with a PV
 * missing or truncated, truncation, bit flips), run through the real CLI
 * as a user would (`lvm ls`, `lvm history`, `lvm check VG/POOL` or
 * `lvm export VG/LV -o OUT`, one a case by turn), and judged: no engine message, stack
 * trace or internal error; exit 0 only with no problem listed, 1 else,
 * never 2 (the arguments are right); every problem one line; within the
 * time and memory caps; the images byte-identical afterwards; no output
 * left behind by a failure. Shared by lvm-fuzz.ts (thousands, in
 * parallel) and lvm-fuzz.test.ts (a few dozen in CI).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import CRC32 from 'crc-32';
import { lvmCrc } from '../../src/lvm/crc.js';
import { cliPath } from '../support/cli.js';
import { ImageEditor, type PristineImage, writeImage } from './lvm-image.js';
import { prng as rng } from '../bench/pool-generator.js';
import { must } from '../../src/errors.js';

export const FIXTURES = ['single', 'disk', 'repaired', 'striped-1', 'striped-2'] as const;
export type FixtureName = (typeof FIXTURES)[number];

/** A VG the fixtures hold: its images, a pool, and a thin LV to export. */
interface Target {
  images: FixtureName[];
  pool: string;
  thin: string;
}

const TARGETS: Target[] = [
  { images: ['single'], pool: 'vgfx/pool', thin: 'vgfx/thin2' },
  { images: ['disk'], pool: 'pve/data', thin: 'pve/vm-101-disk-0' },
  { images: ['repaired'], pool: 'vgrp/pool', thin: 'vgrp/t1' },
  { images: ['striped-1', 'striped-2'], pool: 'vgst/pool', thin: 'vgst/t1' },
];

export const MUTATIONS = [
  'label',
  'pv_header',
  'mda_header',
  'raw_locn',
  'ring',
  'text_grammar',
  'text_values',
  'partition',
  'multi_pv',
  'truncate',
  'bitflip',
] as const;
export type Mutation = (typeof MUTATIONS)[number];

/** One command a case, by turn: each mutation meets each command (MUTATIONS.length and COMMANDS.length are coprime). */
export const COMMANDS = ['ls', 'history', 'check', 'export'] as const;

/** Wall time a run may take, and the resident memory it may reach (KiB). */
export const TIME_CAP_MS = 30_000;
export const RSS_CAP_KIB = 512 * 1024;

export interface LvmCaseResult {
  label: string;
  mutation: Mutation;
  faults: string[];
  /** Exit codes of the runs. */
  codes: number[];
  ms: number;
  maxRssKiB: number;
}

class Pick {
  constructor(readonly r: () => number) {}
  int(n: number): number {
    return Math.floor(this.r() * n);
  }
  one<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  chance(p: number): boolean {
    return this.r() < p;
  }
  /** A u64 at the edges a reader must survive, or near `orig`. */
  u64(orig: bigint): bigint {
    return this.one([
      0n,
      1n,
      2n ** 64n - 1n,
      2n ** 63n,
      2n ** 53n,
      2n ** 53n + 1n,
      2n ** 32n,
      2n ** 32n - 1n,
      512n,
      4096n,
      orig + 1n,
      orig - 1n,
      orig * 2n,
      orig + 512n,
      orig * 1000n,
      BigInt(this.int(2 ** 31)) * BigInt(this.int(2 ** 31)),
      BigInt(this.int(1 << 20)),
    ]);
  }
  u32(orig: number): number {
    return this.one([0, 1, 0xffffffff, 0x80000000, 92, 128, 4096, orig + 1, orig - 1, orig * 2, this.int(2 ** 32), this.int(1024)]) >>> 0;
  }
}

/** The CLI runs of one case, against the images in `dir`. */
interface Run {
  args: string[];
  out?: string;
}

export interface CaseImages {
  dir: string;
  /** The images given on the command line, in order. */
  paths: string[];
}

function labelOf(seed: number, t: Target, what: string): string {
  return `seed ${seed} (${t.images.join('+')}): ${what}`;
}

/** Writes the case's images into `dir` and mutates them; returns what it did. */
function mutate(p: Pick, pristine: ReadonlyMap<string, PristineImage>, t: Target, dir: string, m: Mutation): { what: string; images: string[] } {
  const images = t.images.map((n) => {
    const path = join(dir, `${n}.img`);
    writeImage(must(pristine.get(n), `pristine image ${n}`), path);
    return path;
  });
  const which = p.int(images.length);
  const img = must(pristine.get(t.images[which]), 'the pristine image mutated');
  const L = img.layout;
  const e = new ImageEditor(images[which]);
  const notes: string[] = [];
  try {
    switch (m) {
      case 'label': {
        const field = p.one(['sector_xl', 'crc_xl', 'offset_xl', 'type', 'id'] as const);
        if (field === 'sector_xl') e.u64(L.labelAt + 8, p.u64(e.getU64(L.labelAt + 8)));
        else if (field === 'crc_xl') e.u32(L.labelAt + 16, p.u32(e.getU32(L.labelAt + 16)));
        else if (field === 'offset_xl') e.u32(L.labelAt + 20, p.u32(32));
        else if (field === 'type') e.write(L.labelAt + 24, Buffer.from(p.one(['LVM1 001', 'LVM2 002', '\0\0\0\0\0\0\0\0', 'lvm2 001'])));
        else e.write(L.labelAt, Buffer.from(p.one(['LABELONF', 'labelone'])));
        const fix = field !== 'crc_xl' && p.chance(0.85);
        if (fix) e.fixLabelCrc(L.labelAt);
        notes.push(`label ${field}${fix ? ', crc fixed' : ''}`);
        break;
      }
      case 'pv_header': {
        // u64 slots of the pv_header: device_size, then the area lists and the extension.
        const slot = p.int(16);
        const at = L.pvHeaderAt + 32 + slot * 8;
        if (p.chance(0.15)) {
          const uuid = Buffer.from(p.one(['\x1b[31mRED\x1b[0m\n', 'a'.repeat(32), '\0'.repeat(32), '\n\r\t\x7f']));
          e.write(L.pvHeaderAt, uuid.subarray(0, 32));
          notes.push('pv_header id');
        } else {
          const v = p.u64(e.getU64(at));
          e.u64(at, v);
          notes.push(`pv_header u64 slot ${slot} (byte ${32 + slot * 8}) = ${v}`);
        }
        if (p.chance(0.9)) e.fixLabelCrc(L.labelAt);
        break;
      }
      case 'mda_header': {
        const field = p.one(['checksum', 'magic', 'version', 'start', 'size'] as const);
        if (field === 'checksum') e.u32(L.mdaAt, p.u32(e.getU32(L.mdaAt)));
        else if (field === 'magic') e.write(L.mdaAt + 4 + p.int(16), Buffer.from([p.int(256)]));
        else if (field === 'version') e.u32(L.mdaAt + 20, p.u32(1));
        else e.u64(L.mdaAt + (field === 'start' ? 24 : 32), p.u64(e.getU64(L.mdaAt + (field === 'start' ? 24 : 32))));
        const fix = field !== 'checksum' && p.chance(0.85);
        if (fix) e.fixMdaCrc(L.mdaAt);
        notes.push(`mda header ${field}${fix ? ', crc fixed' : ''}`);
        break;
      }
      case 'raw_locn': {
        const slot = p.chance(0.8) ? 0 : 1;
        const base = L.mdaAt + 40 + 24 * slot;
        const field = p.one(['offset', 'size', 'checksum', 'flags'] as const);
        if (field === 'offset') e.u64(base, p.u64(e.getU64(base)));
        else if (field === 'size') e.u64(base + 8, p.u64(e.getU64(base + 8)));
        else if (field === 'checksum') e.u32(base + 16, p.u32(e.getU32(base + 16)));
        else e.u32(base + 20, p.one([1, 2, 0xffffffff]));
        // Make the text's checksum hold over the range it now names, when that range is small enough to read.
        const off = e.getU64(base);
        const size = e.getU64(base + 8);
        let fixed = false;
        if (p.chance(0.5) && off + size <= BigInt(L.mdaSize) && size < 1n << 24n) {
          e.u32(base + 16, lvmCrc(e.read(L.mdaAt + Number(off), Number(size))));
          fixed = true;
        }
        e.fixMdaCrc(L.mdaAt);
        notes.push(`raw_locn ${slot} ${field} (offset ${off}, size ${size})${fixed ? ', text crc fixed' : ''}`);
        break;
      }
      case 'ring': {
        const ringAt = L.mdaAt + 512;
        const ring = L.mdaSize - 512;
        const kind = p.one(['marker-spam', 'random', 'old-versions', 'no-nul', 'deep'] as const);
        if (kind === 'marker-spam') {
          const unit = p.one(['x {\nid = "', 'x {\nid = ""\n}\n', 'vg {\nid = "a"\nseqno = 1\n', ' {\nid = "']);
          e.write(ringAt, Buffer.from(unit.repeat(Math.ceil(ring / unit.length))).subarray(0, ring - 1));
        } else if (kind === 'random') {
          for (let k = 0; k < 1 + p.int(20); k++) {
            const b = Buffer.alloc(1 + p.int(4096));
            for (let j = 0; j < b.length; j++) b[j] = p.int(256);
            e.write(ringAt + p.int(ring - b.length), b);
          }
        } else if (kind === 'old-versions') {
          for (let k = 0; k < 1 + p.int(6); k++) {
            const seqno = p.one(['1', '0', '-1', '99999999999999999999', '9007199254740993', String(p.int(100))]);
            const name = p.one(['', 'vg\x1b[31m', 'vg\nfake', 'a'.repeat(200)]);
            const text = `${L.text.replace(/seqno = \d+/, `seqno = ${seqno}`).replace(/^(\S+) \{/, (_, n) => `${n}${name} {`)}\0`;
            const b = Buffer.from(text).subarray(0, p.int(text.length + 1));
            e.write(ringAt + p.int(ring - b.length), b);
          }
        } else if (kind === 'no-nul') {
          const b = e.read(ringAt, ring);
          for (let j = 0; j < b.length; j++) if (b[j] === 0) b[j] = 0x20;
          e.write(ringAt, b);
        } else {
          const depth = p.one([100, 10_000, 100_000]);
          e.write(ringAt, Buffer.from(`vg {\nid = "x"\n${'a {\n'.repeat(depth)}`.slice(0, ring - 1)));
        }
        notes.push(`ring ${kind}`);
        break;
      }
      case 'text_grammar': {
        let text = L.text;
        const n = 1 + p.int(4);
        for (let k = 0; k < n; k++) {
          const at = p.int(text.length + 1);
          const op = p.int(4);
          if (op === 0) text = text.slice(0, at) + text.slice(at + 1 + p.int(64));
          else if (op === 1) {
            const len = p.int(200);
            text = text.slice(0, at) + text.slice(at, at + len) + text.slice(at);
          } else {
            const ins = p.one([
              '{',
              '}',
              '"',
              "'",
              '\\',
              '[',
              ']',
              ',',
              '=',
              '#',
              '\n',
              '\0',
              'x {\n',
              '{'.repeat(10_000),
              'x {\n'.repeat(10_000),
              '['.repeat(1000),
              `"${'a'.repeat(100_000)}"`,
              'x = "\x1b[2J\n"\n',
              'é\u{1F600}',
              '\\\n',
            ]);
            text = text.slice(0, at) + ins + text.slice(at);
          }
        }
        const fix = p.chance(0.9);
        e.setCommittedText(L.mdaAt, text, fix);
        notes.push(`text grammar, ${n} edits${fix ? ', crc fixed' : ''}`);
        break;
      }
      case 'text_values': {
        const text = L.text;
        const nums = [...text.matchAll(/^(\w+) = (-?\d+)$/gm)];
        const strs = [...text.matchAll(/^(\w+) = "([^"\n]*)"$/gm)];
        let out = text;
        const edits: string[] = [];
        for (let k = 0; k < 1 + p.int(3); k++) {
          if (nums.length && (p.chance(0.7) || !strs.length)) {
            const mm = p.one(nums);
            const v = p.one([
              '0',
              '-1',
              '1',
              '-9007199254740993',
              '9007199254740991',
              '9007199254740992',
              '18446744073709551615',
              '18446744073709551616',
              '4294967296',
              '2147483648',
              '0777',
              '08',
              '1.5',
              '"7"',
              'x',
              '[]',
              '[1, 2]',
              String(Number(mm[2]) * 1000),
              String(Number(mm[2]) + 1),
              String(Number(mm[2]) - 1),
              String(Number(mm[2]) * 2 ** 20),
            ]);
            out = out.replace(mm[0], `${mm[1]} = ${v}`);
            edits.push(`${mm[1]} ${mm[2]} -> ${v}`);
          } else if (strs.length) {
            const mm = p.one(strs);
            const v = p.one([
              '',
              '\x1b[31mred\x1b[0m',
              'a\nb',
              'pv9',
              'pool',
              'thin1',
              'x'.repeat(5000),
              'striped',
              'raid1',
              'thin-pool',
              'error',
              'zero',
              '..',
              '/',
            ]);
            out = out.replace(mm[0], `${mm[1]} = "${v.replace(/\n/g, '\\n')}"`);
            edits.push(`${mm[1]} -> ${JSON.stringify(v.slice(0, 20))}`);
          }
        }
        if (p.chance(0.2)) {
          // A line dropped: a field the model needs, gone.
          const lines = out.split('\n');
          const k = p.int(lines.length);
          edits.push(`line ${k + 1} dropped (${JSON.stringify(lines[k].slice(0, 30))})`);
          lines.splice(k, 1);
          out = lines.join('\n');
        }
        e.setCommittedText(L.mdaAt, out);
        notes.push(`text values: ${edits.join('; ')}`);
        break;
      }
      case 'partition': {
        if (img.gptAt === undefined) {
          // A PV at sector 1 of a whole file: an MBR beside it is not read; damage the label's neighbour sector 0 instead.
          const mbr = Buffer.alloc(512);
          mbr[510] = 0x55;
          mbr[511] = 0xaa;
          for (let k = 0; k < 4; k++) {
            const at = 446 + 16 * k;
            mbr[at + 4] = p.one([0x83, 0x8e, 0x05, 0x0f, 0xee, 0]);
            mbr.writeUInt32LE(p.u32(2048), at + 8);
            mbr.writeUInt32LE(p.u32(2048), at + 12);
          }
          e.write(0, mbr);
          notes.push('an MBR in sector 0');
          break;
        }
        const g = img.gptAt;
        const kind = p.one(['header', 'entry', 'mbr', 'mbr-extended', 'ebr-chain'] as const);
        if (kind === 'header') {
          const field = p.one([
            [12, 4],
            [24, 8],
            [32, 8],
            [40, 8],
            [48, 8],
            [72, 8],
            [80, 4],
            [84, 4],
          ] as const);
          if (field[1] === 4) e.u32(g + field[0], p.u32(e.getU32(g + field[0])));
          else e.u64(g + field[0], p.u64(e.getU64(g + field[0])));
          notes.push(`GPT header byte ${field[0]}`);
        } else if (kind === 'entry') {
          const lba = Number(e.getU64(g + 72));
          const size = e.getU32(g + 84);
          const k = p.int(Math.min(8, e.getU32(g + 80)));
          const at = lba * 512 + k * size;
          const off = p.one([32, 40]);
          e.u64(at + off, p.u64(e.getU64(at + off)));
          if (p.chance(0.2)) e.write(at, Buffer.alloc(16, p.int(256)));
          notes.push(`GPT entry ${k + 1} byte ${off}`);
        } else if (kind === 'ebr-chain') {
          // An extended partition from sector 2048 whose EBRs (in sectors 2048..2063) link at random: loops, dead ends, the PV.
          const mbr = e.read(0, 512);
          mbr.fill(0, 446, 510);
          mbr[446 + 4] = p.one([0x05, 0x0f, 0x85]);
          mbr.writeUInt32LE(2048, 446 + 8);
          mbr.writeUInt32LE(img.size / 512 - 2048, 446 + 12);
          e.write(0, mbr);
          const links: string[] = [];
          for (let k = 0; k < 16; k++) {
            const ebr = Buffer.alloc(512);
            if (p.chance(0.95)) {
              ebr[510] = 0x55;
              ebr[511] = 0xaa;
            }
            const sector = 2048 + k;
            const toPv = L.start / 512 - sector;
            ebr[446 + 4] = p.one([0x8e, 0x83, 0]);
            ebr.writeUInt32LE(p.chance(0.5) ? toPv : p.u32(toPv), 446 + 8);
            ebr.writeUInt32LE(p.chance(0.7) ? (L.pvEnd - L.start) / 512 : p.u32(8192), 446 + 12);
            const next = p.chance(0.8) ? p.int(16) : p.u32(16);
            ebr[462 + 4] = p.one([0x05, 0x05, 0x0f, 0]);
            ebr.writeUInt32LE(next, 462 + 8);
            ebr.writeUInt32LE(p.chance(0.9) ? 1 : 0, 462 + 12);
            e.write(sector * 512, ebr);
            links.push(`${k}->${next}`);
          }
          notes.push(`EBR chain ${links.join(' ')}`);
        } else {
          const mbr = e.read(0, 512);
          const k = p.int(4);
          const at = 446 + 16 * k;
          mbr[at + 4] = kind === 'mbr-extended' ? p.one([0x05, 0x0f, 0x85]) : p.one([0x83, 0x8e, 0xee, 0]);
          mbr.writeUInt32LE(p.u32(mbr.readUInt32LE(at + 8)), at + 8);
          mbr.writeUInt32LE(p.u32(mbr.readUInt32LE(at + 12)), at + 12);
          if (p.chance(0.5)) for (let j = 0; j < 4; j++) if (j !== k) mbr[446 + 16 * j + 4] = 0;
          e.write(0, mbr);
          notes.push(`${kind} entry ${k + 1}`);
        }
        if (p.chance(0.85)) fixGptCrcs(e, g);
        break;
      }
      case 'multi_pv':
        // Handled by the caller through the image list; the file is untouched here.
        notes.push('multi-PV');
        break;
      case 'truncate': {
        const size = p.one([
          p.int(img.size),
          p.int(1 << 20),
          L.mdaAt + L.mdaSize - 1 - p.int(4096),
          L.start + 2048 + p.int(512),
          img.size - 512,
          img.size - (1 << 20),
          L.mdaAt + 600,
        ]);
        e.truncate(Math.max(0, size));
        notes.push(`truncated to ${size} bytes`);
        break;
      }
      case 'bitflip': {
        const n = 1 + p.int(8);
        const region = p.one([
          [L.labelAt, 512],
          [L.mdaAt, 512],
          [L.mdaAt + L.textOffset, L.textSize],
          [0, 1 << 20],
        ] as const);
        for (let k = 0; k < n; k++) {
          const at = region[0] + p.int(region[1]);
          const b = e.read(at, 1);
          b[0] ^= 1 << p.int(8);
          e.write(at, b);
        }
        let fixed = '';
        if (region[0] === L.labelAt && p.chance(0.7)) {
          e.fixLabelCrc(L.labelAt);
          fixed = ', crc fixed';
        } else if (region[0] === L.mdaAt && p.chance(0.7)) {
          e.fixMdaCrc(L.mdaAt);
          fixed = ', crc fixed';
        }
        notes.push(`${n} bits flipped in bytes ${region[0]}+${region[1]}${fixed}`);
        break;
      }
    }
  } finally {
    e.close();
  }
  return { what: `${t.images[which]} ${notes.join(', ')}`, images };
}

/** The GPT header's entries CRC and header CRC, recomputed over what they now say (when it can be read). */
function fixGptCrcs(e: ImageEditor, g: number): void {
  const lba = e.getU64(g + 72);
  const count = e.getU32(g + 80);
  const size = e.getU32(g + 84);
  if (lba < 1n << 30n && count * size <= 1 << 20) e.u32(g + 88, CRC32.buf(e.read(Number(lba) * 512, count * size)) >>> 0);
  const hs = Math.max(92, Math.min(e.getU32(g + 12), 512));
  const h = e.read(g, hs);
  h.fill(0, 16, 20);
  e.u32(g + 16, CRC32.buf(h) >>> 0);
}

/** Messages that are JavaScript's, not dmthin's: their presence is a fault whatever the input. */
const ENGINE =
  /Maximum call stack|out of range|Invalid typed array|Invalid time value|Invalid array length|Cannot read propert|Cannot set propert|is not a function|is not iterable|is not defined|undefined|NaN|internal error|RangeError|TypeError|SyntaxError|ReferenceError|heap out of memory|Allocation failed|FATAL ERROR|^\s+at .+:\d+:\d+\)?$/m;

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

function fingerprint(path: string, hash: boolean): string {
  const s = statSync(path, { bigint: true });
  return `${s.size} ${s.mtimeNs} ${s.ctimeNs} ${s.ino}${hash ? ` ${sha256(path)}` : ''}`;
}

/** Runs one case in `dir` (emptied first). `hashInputs`: compare every image's sha256 too (else size, times and inode). */
export function runLvmCase(pristine: ReadonlyMap<string, PristineImage>, seed: number, dir: string, hashInputs: boolean): LvmCaseResult {
  const t0 = Date.now();
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const p = new Pick(rng(seed * 2654435761));
  const mutation = MUTATIONS[seed % MUTATIONS.length];
  let t = p.one(TARGETS);
  if (mutation === 'multi_pv' || (mutation === 'partition' && p.chance(0.7))) t = mutation === 'multi_pv' ? TARGETS[3] : TARGETS[1];
  const { what, images } = mutate(p, pristine, t, dir, mutation);
  let given = images;
  let extra = '';
  if (mutation === 'multi_pv') {
    const kind = p.one(['first-only', 'second-only', 'twice', 'reversed', 'truncated-second', 'with-another-vg'] as const);
    if (kind === 'first-only') given = [images[0]];
    else if (kind === 'second-only') given = [images[1]];
    else if (kind === 'twice') given = [images[0], images[0], images[1]];
    else if (kind === 'reversed') given = [images[1], images[0]];
    else if (kind === 'truncated-second') {
      const e = new ImageEditor(images[1]);
      const size = p.one([p.int(must(pristine.get('striped-2'), 'pristine image striped-2').size), 1 << 20, 2 << 20, 40 << 20]);
      e.truncate(size);
      e.close();
      extra = ` (second truncated to ${size})`;
    } else {
      const other = join(dir, 'single.img');
      writeImage(must(pristine.get('single'), 'pristine image single'), other);
      given = [...images, other];
    }
    extra = ` ${kind}${extra}`;
  }
  const label = labelOf(seed, t, `${mutation}: ${what}${extra}`);
  const before = new Map(given.map((g) => [g, fingerprint(g, hashInputs)]));
  const second = COMMANDS[seed % COMMANDS.length];
  const out = join(dir, 'out.img');
  const runs: Run[] = [];
  if (second === 'ls') runs.push({ args: ['lvm', 'ls', ...given] });
  else if (second === 'history') runs.push({ args: ['lvm', 'history', ...given] });
  else if (second === 'check') runs.push({ args: ['lvm', 'check', ...given, t.pool] });
  else runs.push({ args: ['lvm', 'export', ...given, t.thin, '-o', out], out });
  const r: LvmCaseResult = { label, mutation, faults: [], codes: [], ms: 0, maxRssKiB: 0 };
  const expected = new Set(readdirSync(dir));
  for (const run of runs) judge(run, r, dir);
  // A PV image cut short is a named problem wherever the PVs are listed: never exit 0 there.
  const cut = given.some((g) => statSync(g).size < must(pristine.get(basename(g, '.img')), `pristine image ${g}`).layout.pvEnd);
  if (cut && (second === 'ls' || second === 'history') && r.codes[0] === 0) r.faults.push(`${label}: ${run0(runs)}: exit 0 with a PV image cut short`);
  for (const [g, fp] of before) {
    if (fingerprint(g, hashInputs) !== fp) r.faults.push(`${label}: ${run0(runs)}: input ${g} changed`);
  }
  const left = readdirSync(dir).filter((n) => !expected.has(n));
  if (left.length) r.faults.push(`${label}: files left behind: ${left.join(', ')}`);
  r.ms = Date.now() - t0;
  return r;
}

const run0 = (runs: Run[]): string => runs.map((x) => x.args.slice(0, 2).join(' ')).join(' + ');

function judge(run: Run, r: LvmCaseResult, dir: string): void {
  const rssFile = join(dir, 'rss.txt');
  const t0 = Date.now();
  const res = spawnSync('/usr/bin/time', ['-f', '%M', '-o', rssFile, process.execPath, '--max-old-space-size=256', cliPath, ...run.args], {
    encoding: 'utf8',
    timeout: TIME_CAP_MS,
    maxBuffer: 64 << 20,
    killSignal: 'SIGKILL',
  });
  const ms = Date.now() - t0;
  const cmd = `dmthin ${run.args.map((a) => a.replace(`${dir}/`, '')).join(' ')}`;
  const fault = (why: string): void => {
    r.faults.push(`${r.label}: ${cmd}: ${why}`);
  };
  let rss = 0;
  try {
    rss = Number(readFileSync(rssFile, 'utf8').trim().split('\n').pop());
    rmSync(rssFile);
  } catch {}
  r.maxRssKiB = Math.max(r.maxRssKiB, rss || 0);
  const stdout = res.stdout ?? '';
  const stderr = (res.stderr ?? '').replace(/^Command exited with non-zero status \d+\n/m, '');
  if (res.error && (res.error as NodeJS.ErrnoException).code === 'ETIMEDOUT') {
    fault(`took more than ${TIME_CAP_MS} ms`);
    return;
  }
  // /usr/bin/time reports the child's status: 128 + signal for a kill.
  const code = res.status ?? -1;
  r.codes.push(code);
  if (code !== 0 && code !== 1) {
    fault(`exit ${code} (expected 0 or 1)${rss > RSS_CAP_KIB ? `, ${rss} KiB resident` : ''}: ${firstLines(stderr)}`);
    return;
  }
  if (ms > TIME_CAP_MS) fault(`took ${ms} ms`);
  if (rss > RSS_CAP_KIB) fault(`${rss} KiB resident (cap ${RSS_CAP_KIB})`);
  const engine = ENGINE.exec(stderr) ?? ENGINE.exec(stdout);
  if (engine) fault(`engine message or internal error "${engine[0]}": ${firstLines(stderr || stdout)}`);
  const errLines = stderr.split('\n').filter((l) => l !== '');
  // check reports as thin_check does, a line a finding on stderr; any other command's error is one line there.
  const isCheck = run.args[1] === 'check';
  if (
    code === 1 &&
    errLines.length > 1 &&
    (isCheck ? errLines.filter((l) => l.startsWith('dmthin:')).length > 1 : errLines.filter((l) => l.startsWith('dmthin:')).length !== 1)
  )
    fault(`an error in ${errLines.length} lines: ${firstLines(stderr)}`);
  const problems = stdout.indexOf('\nproblems:\n');
  const listed = problems >= 0 || stdout.startsWith('problems:\n');
  if (code === 0 && listed) fault('exit 0 with problems listed');
  if (listed) {
    const after = stdout.slice(stdout.indexOf('problems:\n') + 'problems:\n'.length).split('\n');
    const bad = after.find((l) => l !== '' && !/^ {2}[a-z_]+[ :]/.test(l));
    if (bad !== undefined) fault(`a problem in more than one line (or not a problem line): ${JSON.stringify(bad.slice(0, 160))}`);
  }
  if (run.out) {
    if (code !== 0 && existsSync(run.out)) fault('failed, yet its output exists');
    rmSync(run.out, { force: true });
  }
}

function firstLines(s: string): string {
  return JSON.stringify(s.split('\n').slice(0, 3).join(' | ').slice(0, 400));
}
