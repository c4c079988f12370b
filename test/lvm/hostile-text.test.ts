/**
 * The LVM reader's byte and text layer against hostile or damaged PVs:
 * lvm2-made fixtures with one field made to lie (checksums fixed where the
 * lie must get past them), run through the CLI as a user would. Each is a
 * named problem (file, offset, structure, what was expected), never an
 * engine message, a hang or memory taken on a size the image only claims.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import CRC32 from 'crc-32';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigSyntaxError, MAX_SECTION_DEPTH, parseConfigText } from '../../src/lvm/config-text.js';
import { printable } from '../../src/lvm/printable.js';
import { cliPath } from '../support/cli.js';
import { scratch } from '../support/env.js';
import { ImageEditor, type PristineImage, loadPristine, writeImage } from '../fuzz/lvm-image.js';
import { must } from '../../src/errors.js';

const tmp = scratch('dmthin-hostile-lvm-');
afterAll(() => tmp.cleanup());
const pristine = new Map<string, PristineImage>();
beforeAll(() => {
  for (const n of ['single', 'disk', 'striped-1']) pristine.set(n, loadPristine(n, tmp.dir));
});

const ENGINE = /Maximum call stack|out of range|Invalid typed array|Invalid time value|Cannot read propert|internal error|RangeError|TypeError|undefined|NaN/;
const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
  /** Maximum resident memory in KiB, where /usr/bin/time can tell. */
  rssKiB?: number;
  ms: number;
}

/** The CLI on `args`, with a time limit; its peak memory when /usr/bin/time is there. */
function cli(args: string[], timeout = 60_000): Result {
  const rss = tmp.path('rss');
  rmSync(rss, { force: true });
  const cmd = TIME ? [TIME, '-f', '%M', '-o', rss, process.execPath, cliPath, ...args] : [process.execPath, cliPath, ...args];
  const t0 = Date.now();
  const r = spawnSync(cmd[0], cmd.slice(1), { encoding: 'utf8', timeout, killSignal: 'SIGKILL', maxBuffer: 1 << 26 });
  const ms = Date.now() - t0;
  const rssKiB = TIME && existsSync(rss) ? Number(readFileSync(rss, 'utf8').trim().split('\n').pop()) : undefined;
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: (r.stderr ?? '').replace(/^Command exited with non-zero status \d+\n/m, ''), rssKiB, ms };
}

/** A copy of fixture `name` with `edit` applied; its path. */
function image(name: string, edit: (e: ImageEditor, p: PristineImage) => void, file = `${name}.img`): string {
  const p = must(pristine.get(name), `pristine image ${name}`);
  const path = tmp.path(file);
  writeImage(p, path);
  const e = new ImageEditor(path);
  try {
    edit(e, p);
  } finally {
    e.close();
  }
  return path;
}

/** `lvm ls` of `path` names exactly this problem, exit 1, in one line, with no engine message. */
function expectProblem(r: Result, kind: string, detail: RegExp): void {
  expect(r.stdout + r.stderr).not.toMatch(ENGINE);
  expect(r.code).toBe(1);
  const line = r.stdout.split('\n').find((l) => l.startsWith(`  ${kind}`));
  expect(line, r.stdout + r.stderr).toBeDefined();
  expect(line).toMatch(detail);
}

describe('sizes the mda header claims are bounded by the area that holds them', () => {
  it('an mda header claiming a 900 MiB text in a 1 GiB area is refused by name, without taking the memory', () => {
    const path = image('single', (e, p) => {
      const m = p.layout.mdaAt;
      e.u64(m + 32, 1n << 30n);
      e.u64(m + 48, 900n << 20n);
      e.fixMdaCrc(m);
    });
    const r = cli(['lvm', 'ls', path]);
    expectProblem(
      r,
      'bad_metadata_area',
      /metadata area 0 at byte 4096: mda header size 1073741824 bytes \(expected more than its own 512 and at most the 1044480 the pv_header gives the area\)/,
    );
    if (r.rssKiB !== undefined) expect(r.rssKiB).toBeLessThan(200 * 1024);
  });

  it('a raw_locn whose text would not fit the ring names raw_locn 0, the offset and the ring', () => {
    const path = image('single', (e, p) => {
      e.u64(p.layout.mdaAt + 40, 1n << 63n);
      e.fixMdaCrc(p.layout.mdaAt);
    });
    expectProblem(
      cli(['lvm', 'ls', path]),
      'bad_metadata_area',
      /metadata area 0 at byte 4096: raw_locn 0: offset 9223372036854775808, size \d+ bytes \(expected a text inside the 1044480-byte area\)/,
    );
  });

  it("a pv_header metadata area past the image's end is named as truncated, not read as zeros", () => {
    const path = image('single', (e, p) => {
      e.u64(p.layout.pvHeaderAt + 72, 1n << 40n); // metadata area 0's offset (after uuid, device_size, one data area and its terminator)
      e.fixLabelCrc(p.layout.labelAt);
    });
    expectProblem(
      cli(['lvm', 'ls', path]),
      'bad_metadata_area',
      /metadata area 0 at byte 1099511627776: pv_header gives it 1044480 bytes, past the end of the PV as found \(100663296 bytes\): the image is truncated/,
    );
  });

  it('a pv_header area size of 2^64-1 is named with its exact value', () => {
    const path = image('single', (e, p) => {
      e.u64(p.layout.pvHeaderAt + 80, 2n ** 64n - 1n); // metadata area 0's size
      e.fixLabelCrc(p.layout.labelAt);
    });
    expectProblem(
      cli(['lvm', 'ls', path]),
      'bad_label',
      /sector 1: pv_header metadata area 0: offset 4096, size 18446744073709551615 bytes \(expected a range below 2\^53 bytes\)/,
    );
  });

  it('a label that says it lies in sector 2^64-1 is named with that sector', () => {
    const path = image('single', (e, p) => {
      e.u64(p.layout.labelAt + 8, 2n ** 64n - 1n);
      e.fixLabelCrc(p.layout.labelAt);
    });
    expectProblem(
      cli(['lvm', 'ls', path]),
      'bad_label',
      /at byte 0: an LVM label that cannot be used \(sector 1: label says it is in sector 18446744073709551615\)/,
    );
  });
});

describe('a truncated PV is named as truncated', () => {
  it("a PV image shorter than its label's device_size is a truncated_pv problem, exit 1 (it was exit 0)", () => {
    const path = image('single', (e) => e.truncate(60 << 20));
    expectProblem(cli(['lvm', 'ls', path]), 'truncated_pv', /device_size\) says 100663296 bytes, the image holds 62914560: it is truncated/);
  });

  it('an image cut inside its metadata area names the area as past the end', () => {
    const path = image('single', (e) => e.truncate(8192));
    expectProblem(
      cli(['lvm', 'ls', path]),
      'bad_metadata_area',
      /metadata area 0 at byte 4096: pv_header gives it 1044480 bytes, past the end of the PV as found \(8192 bytes\)/,
    );
  });
});

describe('the VG text parser and the ring scan are bounded', () => {
  it(`sections nested deeper than ${MAX_SECTION_DEPTH} are a named syntax error, not a stack overflow`, () => {
    const text = `vg {\n${'a {\n'.repeat(10_000)}`;
    expect(() => parseConfigText(text)).toThrow(ConfigSyntaxError);
    expect(() => parseConfigText(text)).toThrow(/VG text line 33 column 3: section a nested 33 deep \(expected at most 32\)/);
    const path = image('single', (e, p) => e.setCommittedText(p.layout.mdaAt, text));
    expectProblem(cli(['lvm', 'ls', path]), 'bad_vg_text', /metadata area at byte 4096, committed text: VG text line 33 column 3: section a nested 33 deep/);
  });

  it('history of a metadata area full of `x {\\nid = "` finishes in time linear in the area', () => {
    const path = image('single', (e, p) => {
      const ring = p.layout.mdaSize - 512;
      e.write(p.layout.mdaAt + 512, Buffer.from('x {\nid = "'.repeat(Math.ceil(ring / 10))).subarray(0, ring - 1));
    });
    const r = cli(['lvm', 'history', path], 30_000);
    expect(r.code, `${r.ms} ms: ${r.stderr}`).toBe(1);
    expect(r.ms).toBeLessThan(15_000);
    expect(r.stdout + r.stderr).not.toMatch(ENGINE);
  });

  it('history of older texts with distinct top-level sections up to one NUL stays linear', () => {
    // Every candidate parses to the end in a parser that does not stop at the second section.
    const path = image('single', (e, p) => {
      const ring = p.layout.mdaSize - 512;
      let s = '';
      for (let k = 0; s.length < ring - 64; k++) s += `v${k} {\nid = "a"\n}\n`;
      e.write(p.layout.mdaAt + 512, Buffer.from(s));
    });
    const r = cli(['lvm', 'history', path], 30_000);
    expect(r.ms, r.stderr).toBeLessThan(15_000);
    expect(r.stdout + r.stderr).not.toMatch(ENGINE);
  });

  it('a creation_time no date can hold is left out of history, not an "Invalid time value"', () => {
    const path = image('single', (e, p) =>
      e.setCommittedText(p.layout.mdaAt, p.layout.text.replace(/creation_time = \d+(?![\s\S]*creation_time)/, 'creation_time = 9007199254740991')),
    );
    const r = cli(['lvm', 'history', '--json', path]);
    expect(r.stdout + r.stderr).not.toMatch(ENGINE);
    expect(r.code).toBe(0);
    const h = JSON.parse(r.stdout) as { versions: Array<{ seqno: number; time?: string }> };
    expect(
      must(
        h.versions.find((v) => v.seqno === 10),
        'version 10',
      ).time,
    ).toBeUndefined();
  });
});

describe('partition tables are checked against the disk', () => {
  const gpt = (edit: (e: ImageEditor, g: number) => void) =>
    image('disk', (e) => {
      edit(e, 512);
      const lba = Number(e.getU64(512 + 72));
      const count = e.getU32(512 + 80);
      const size = e.getU32(512 + 84);
      if (count * size <= 1 << 20 && lba < 1 << 20) e.u32(512 + 88, CRC32.buf(e.read(lba * 512, count * size)) >>> 0);
      const h = e.read(512, 92);
      h.fill(0, 16, 20);
      e.u32(512 + 16, CRC32.buf(h) >>> 0);
    });

  it('a GPT entry size of 2^32-1 (CRCs fixed) is named, not an "Invalid typed array length"', () => {
    const r = cli(['lvm', 'ls', gpt((e, g) => e.u32(g + 84, 0xffffffff))]);
    expectProblem(r, 'partition_not_read', /GPT header at byte 512: entry size 4294967295 \(expected 128 times a power of two, at most 512\)/);
  });

  it('GPT entries at LBA 2^64-1 are named as outside the disk', () => {
    const r = cli(['lvm', 'ls', gpt((e, g) => e.u64(g + 72, 2n ** 64n - 1n))]);
    expectProblem(
      r,
      'partition_not_read',
      /GPT header at byte 512: the entries at LBA 18446744073709551615 \(16384 bytes\) do not lie inside the disk's 83886080 bytes/,
    );
  });

  it('a GPT entry starting past the disk names the entry', () => {
    const r = cli([
      'lvm',
      'ls',
      gpt((e, g) => {
        const at = Number(e.getU64(g + 72)) * 512 + 128; // entry 2: the PV's partition
        e.u64(at + 32, 1n << 40n);
        e.u64(at + 40, (1n << 40n) + 100n);
      }),
    ]);
    expectProblem(r, 'partition_not_read', /GPT entry 2: partition 2 starts at byte 562949953421312, past the disk's end \(83886080 bytes\)/);
  });

  it('an MBR partition past the disk is named, and one running past it is read up to the end', () => {
    const path = image('disk', (e) => {
      const mbr = e.read(0, 512);
      mbr.fill(0, 446, 510);
      mbr[446 + 4] = 0x8e;
      mbr.writeUInt32LE(4096, 446 + 8); // the PV's partition, at byte 2 MiB
      mbr.writeUInt32LE(0xffffffff, 446 + 12);
      mbr[462 + 4] = 0x83;
      mbr.writeUInt32LE(0xfffffff0, 462 + 8);
      mbr.writeUInt32LE(16, 462 + 12);
      e.write(0, mbr);
    });
    const r = cli(['lvm', 'ls', path]);
    expectProblem(r, 'partition_not_read', /MBR entry 2: partition 2 starts at byte 2199023247360, past the disk's end/);
    expect(r.stdout).toMatch(/^VG pve /m);
  });

  it('a PV in a logical partition is found through the EBR chain, and a chain that loops back is cut and named', () => {
    const path = image('disk', (e, p) => {
      const pvSectors = (p.layout.pvEnd - p.layout.start) / 512;
      const mbr = e.read(0, 512);
      mbr.fill(0, 446, 510);
      mbr[446 + 4] = 0x05; // extended, from sector 2048
      mbr.writeUInt32LE(2048, 446 + 8);
      mbr.writeUInt32LE(p.size / 512 - 2048, 446 + 12);
      e.write(0, mbr);
      const ebr = Buffer.alloc(512);
      ebr[510] = 0x55;
      ebr[511] = 0xaa;
      ebr[446 + 4] = 0x8e; // logical partition 5: the PV, at sector 2048 + 2048
      ebr.writeUInt32LE(2048, 446 + 8);
      ebr.writeUInt32LE(pvSectors, 446 + 12);
      ebr[462 + 4] = 0x05; // the next EBR: this one again
      ebr.writeUInt32LE(0, 462 + 8);
      ebr.writeUInt32LE(1, 462 + 12);
      e.write(2048 * 512, ebr);
    });
    const r = cli(['lvm', 'ls', path]);
    expect(r.stdout).toMatch(/^VG pve /m);
    expectProblem(r, 'partition_not_read', /EBR at sector 2048 is linked to a second time \(the chain of logical partitions loops\): none after it is read/);
  });
});

describe('names read from images are printed with control characters escaped', () => {
  it('printable escapes C0, DEL, C1 and the backslash', () => {
    expect(printable('a\nb\t\x1b[31m\x7f\x9b\\')).toBe('a\\nb\\t\\x1b[31m\\x7f\\x9b\\\\');
  });

  it('a VG text syntax error quotes the names and characters it shows escaped', () => {
    const dup = 'vg {\n\x07bell = 1\n\x07bell = 2\n}';
    expect(() => parseConfigText(dup)).toThrow(/^VG text line 3 column 1: \\x07bell appears twice in vg$/);
    expect(() => parseConfigText('vg {\nx \x9b\n}')).toThrow('expected "=" or "{" after x, found "\\x9b"');
  });

  it("a missing PV's device hint with a terminal escape is shown escaped", () => {
    const path = image('striped-1', (e, p) =>
      e.setCommittedText(p.layout.mdaAt, p.layout.text.replace('device = "/dev/loop1"', 'device = "/dev/\x1b[2Jloop1\n"')),
    );
    const r = cli(['lvm', 'ls', path]);
    expect(r.stdout).not.toContain('\x1b');
    expectProblem(r, 'missing_pv', /last seen as \/dev\/\\x1b\[2Jloop1\\n\) is in none of the images given: add the image that holds it/);
  });
});
