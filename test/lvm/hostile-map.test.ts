/**
 * The LVM model and the commands that read through it, on hostile or
 * merely unlucky images: the two-PV VG lvm2 made (fixtures/lvm-striped-*)
 * with a PV cut short, a PV left out, or its committed VG text edited and
 * written back with LVM's checksums (test/support/vg-text.ts), so that
 * every reader gets past the checksums and meets the values themselves.
 *
 * On pv0 (extents of 2 MiB from byte 1 MiB): lin 0-2, lvol0_pmspare 3,
 * pool_tdata 4-9 and 10-11, str 12-13. On pv1: pool_tdata 0-5 and 7-8,
 * pool_tmeta 6, lin 9-10, str 11-12. Pool chunk 256 KiB; thin LVs t1, s1.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { cliPath, dmthin } from '../support/cli.js';
import { runTool, scratch } from '../support/env.js';
import { committedVgText, truncatedCopy, withEditedVgText } from '../support/vg-text.js';
import type { Run } from '../support/env.js';
import { unpackStripedPvs } from '../support/fixtures.js';
import { must } from '../../src/errors.js';

const tmp = scratch();
afterAll(() => tmp.cleanup());

const MiB = 2 ** 20;
/** What no message may be: the engine's words, or dmthin blaming itself for the input's fault. */
/** A control character other than the line ends between messages. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are what must not be printed
const CONTROL = /[\x00-\x09\x0b-\x1f\x7f]/;
const ENGINE = /internal error|out of range|Invalid typed array|Invalid time value|Cannot read properties|Maximum call stack|is not a function|undefined|NaN/;

let pv0 = '';
let pv1 = '';
beforeAll(() => {
  [pv0, pv1] = unpackStripedPvs(tmp.path);
});

interface Problem {
  kind: string;
  vg?: string;
  lv?: string;
  detail: string;
}
const ls = (...images: string[]): { code: number; problems: Problem[]; lvs: Array<{ name: string; type: string }> } => {
  const r = dmthin('lvm', 'ls', '--json', ...images);
  const j = JSON.parse(r.stdout) as { problems: Problem[]; vgs: Array<{ lvs: Array<{ name: string; type: string }> }> };
  return { code: r.code, problems: j.problems, lvs: j.vgs[0]?.lvs ?? [] };
};
/** A one-line refusal with exit 1, in the input's words. */
function refused(r: Run, what: RegExp): void {
  expect(r.code, r.stderr).toBe(1);
  expect(r.stderr).toMatch(what);
  expect(r.stderr).not.toMatch(ENGINE);
  expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
}
let n = 0;
/** Both PVs with the committed text edited alike (each holds a copy; the newest seqno wins, so both must say it). */
function edited(edit: (t: string) => string): string[] {
  n++;
  return [withEditedVgText(pv0, tmp.path(`e${n}-0`), edit), withEditedVgText(pv1, tmp.path(`e${n}-1`), edit)];
}
/** Replaces `from` inside LV `lv`'s section only. */
const inLv =
  (lv: string, from: string | RegExp, to: string) =>
  (t: string): string => {
    const at = t.indexOf(`\n${lv} {`);
    const end = t.indexOf('\n}\n', t.indexOf('\n}\n', at) + 1);
    return t.slice(0, at) + t.slice(at, end).replace(from, to) + t.slice(end);
  };

describe('the test helper writes an edited VG text back as LVM would', () => {
  it('the edited text is the committed one, its checksums hold, and lvm ls reads the edit', () => {
    const [a, b] = edited(inLv('lin', 'creation_host = "(none)"', 'creation_host = "edited"'));
    expect(committedVgText(a)).toContain('creation_host = "edited"');
    expect(committedVgText(b)).toBe(committedVgText(a));
    expect(ls(a, b)).toMatchObject({ code: 0, problems: [] });
  });
});

describe('a PV image shorter than its label says', () => {
  it('lvm ls names the truncated PV and every LV whose bytes it cut; lvm export refuses them instead of writing zeros', () => {
    // pv1 cut at 15 MiB: pool_tmeta (13-15 MiB) whole; pool_tdata's second run, lin and str cut off.
    const short = truncatedCopy(pv1, tmp.path('pv1-15M'), 15 * MiB);
    const r = ls(pv0, short);
    expect(r.code).toBe(1);
    const kinds = r.problems.map((p) => `${p.kind} ${p.lv ?? ''}`);
    expect(kinds).toContain('truncated_pv ');
    expect(kinds).toEqual(expect.arrayContaining(['lv_not_all_there lin', 'lv_not_all_there str', 'unreadable_pool_data pool']));
    expect(kinds).not.toContain('unreadable_pool_metadata pool');
    // pool_tmeta is whole in the short image: the data problem says the metadata can still be read.
    expect(r.problems.find((p) => p.kind === 'unreadable_pool_data')?.detail).toMatch(
      /\(its metadata can still be checked and dumped\); if the missing bytes cannot be had, lvm export --partial writes what the images hold and lists what is lost$/,
    );
    expect(r.problems.find((p) => p.kind === 'truncated_pv')?.detail).toMatch(/pv1-15M.*67108864 bytes, the image holds 15728640/);
    const out = tmp.path('lin-short.img');
    refused(
      dmthin('lvm', 'export', pv0, short, 'vgst/lin', '-o', out),
      /lin lies past the end of pv1 in .*pv1-15M \(its extents run to byte 24117248 of the PV, the image holds 15728640\)/,
    );
    expect(existsSync(out)).toBe(false);
  });

  it('a thin LV of a pool whose data LV is cut: export, send, export --deleted and undelete refuse, nothing written; check and dump answer from the metadata and exit 1 saying so', () => {
    const short = truncatedCopy(pv1, tmp.path('pv1-15M-b'), 15 * MiB);
    const images = [pv0, short];
    const data = /pool pool's data LV pool_tdata lies past the end of pv1/;
    refused(dmthin('lvm', 'export', ...images, 'vgst/t1', '-o', tmp.path('t1-short.img')), data);
    refused(dmthin('lvm', 'send', ...images, 'vgst/t1', '-o', tmp.path('t1-short.stream')), data);
    refused(dmthin('lvm', 'export', ...images, 'vgst/gone', '--deleted', '-o', tmp.path('gone-short.img')), data);
    const meta = tmp.path('undeleted-short.meta');
    writeFileSync(meta, new Uint8Array(4 * MiB));
    refused(dmthin('lvm', 'undelete', ...images, 'vgst/gone', '-o', meta, '--vg-text', tmp.path('gone-short.vg')), data);
    expect(readFileSync(meta).every((b) => b === 0)).toBe(true);
    for (const f of ['t1-short.img', 't1-short.stream', 'gone-short.img', 'gone-short.vg']) expect(existsSync(tmp.path(f)), f).toBe(false);
    const check = dmthin('lvm', 'check', ...images, 'vgst/pool');
    expect(check.code).toBe(1);
    expect(check.stderr).toMatch(data);
    expect(check.stderr).toMatch(/read from the pool's metadata only/);
    const dump = dmthin('lvm', 'dump', ...images, 'vgst/pool');
    expect(dump.code).toBe(1);
    expect(dump.stdout).toMatch(/<superblock/);
    expect(dump.stderr).toMatch(data);
  });

  it('a pool whose metadata LV is cut is refused by every pool command, named in lvm ls', () => {
    const short = truncatedCopy(pv1, tmp.path('pv1-14M'), 14 * MiB);
    const meta = /pool pool's metadata LV pool_tmeta lies past the end of pv1/;
    for (const verb of ['check', 'dump', 'rmap', 'report']) {
      const args = verb === 'rmap' ? ['--region', '0..1'] : verb === 'report' ? ['-o', tmp.path('r.html')] : [];
      refused(dmthin('lvm', verb, ...args, pv0, short, 'vgst/pool'), meta);
    }
    expect(ls(pv0, short).problems.find((p) => p.kind === 'unreadable_pool_metadata')?.detail).toMatch(meta);
  });
});

describe('a PV of two left out', () => {
  it('names the PV missing, by name, uuid and device hint, and asks for its image; never an internal error', () => {
    const e = dmthin('lvm', 'export', pv0, 'vgst/lin', '-o', tmp.path('lin-half.img'));
    refused(
      e,
      /lin lies on pv1, which none of the images given holds \(uuid KwpRXc-R01R-ZpxD-TidZ-fB9Y-IFG8-fd1gGy, last seen as \/dev\/loop1\): add the image holding that PV/,
    );
    refused(dmthin('lvm', 'check', pv0, 'vgst/pool'), /pool_tmeta lies on pv1, which none of the images given holds \(uuid KwpRXc/);
    refused(dmthin('lvm', 'export', pv0, 'vgst/t1', '-o', tmp.path('t1-half.img')), /pool_tmeta lies on pv1/);
    const r = ls(pv0);
    expect(r.problems.map((p) => p.kind)).toEqual(
      expect.arrayContaining(['missing_pv', 'lv_not_all_there', 'unreadable_pool_data', 'unreadable_pool_metadata']),
    );
    // The metadata LV is on the missing PV too: the data problem does not send the admin to check and dump it.
    expect(
      must(
        r.problems.find((p) => p.kind === 'unreadable_pool_data'),
        'the unreadable_pool_data problem',
      ).detail,
    ).not.toMatch(/metadata can still be checked/);
    // What lies on pv0 alone is still read.
    expect(dmthin('lvm', 'export', pv0, 'vgst/lvol0_pmspare', '-o', tmp.path('spare.img')).code).toBe(0);
  });
});

describe('extents past a PV’s end', () => {
  it('an LV whose segment runs past its PV’s pe_count is a named problem, refused by export', () => {
    const images = edited(inLv('lin', 'extent_count = 2', 'extent_count = 1000000'));
    const r = ls(...images);
    expect(r.code).toBe(1);
    expect(r.problems).toContainEqual(
      expect.objectContaining({
        kind: 'bad_lv',
        lv: 'lin',
        detail: expect.stringMatching(/stripe 0 takes extents 9 to 1000008 of pv1, which has 31 \(pe_count\): past the PV's end/),
      }),
    );
    refused(dmthin('lvm', 'export', ...images, 'vgst/lin', '-o', tmp.path('lin-long.img')), /past the PV's end/);
  });

  it('a linear LV of a million extents on a PV whose pe_count claims them but whose image holds 31: refused at once, not 2 TiB of zeros', () => {
    const images = edited((t) => inLv('lin', 'extent_count = 2', 'extent_count = 1000000')(t.replace(/pe_count = 31\n}\n}/, 'pe_count = 1000031\n}\n}')));
    const t0 = Date.now();
    refused(dmthin('lvm', 'export', ...images, 'vgst/lin', '-o', tmp.path('lin-huge.img')), /lin lies past the end of pv1 .*the image holds 67108864/);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(existsSync(tmp.path('lin-huge.img'))).toBe(false);
    expect(ls(...images).problems).toContainEqual(expect.objectContaining({ kind: 'lv_not_all_there', lv: 'lin' }));
  });
});

describe('a pool data LV smaller than its metadata says', () => {
  it('lvm ls names it; export of a thin LV refuses it', () => {
    // pool_tdata's second segment (4 of its 16 extents) dropped from the text: 12 extents for the metadata's 16 extents of chunks.
    const images = edited((t) => t.replace(/(\npool_tdata \{[\s\S]*?segment_count = )2([\s\S]*?)segment2 \{[^}]*\}\n/, '$11$2'));
    expect(ls(...images).problems).toContainEqual(
      expect.objectContaining({
        kind: 'unreadable_pool_data',
        lv: 'pool',
        detail: expect.stringMatching(/data LV pool_tdata holds 25165824 bytes, its metadata counts 128 data blocks of 262144/),
      }),
    );
    refused(dmthin('lvm', 'export', ...images, 'vgst/t1', '-o', tmp.path('t1-small.img')), /smaller than the pool's 128 data blocks/);
  });
});

describe('impossible values in the VG text', () => {
  // Each edit, and what the message must say (the VG, the LV, the segment, the field, the value, what was expected).
  const cases: Array<[string, (t: string) => string, string, RegExp]> = [
    [
      'a negative start extent',
      inLv('lin', '"pv0", 0', '"pv0", -5'),
      'lin',
      /LV lin segment1 \(line \d+\): stripe 0 on pv0 starts at extent -5, expected 0 to 4294967295/,
    ],
    [
      'a negative extent count',
      inLv('lin', 'extent_count = 3', 'extent_count = -3'),
      'lin',
      /LV lin segment1 \(line \d+\): extent_count = -3, expected its number of extents \(1 to 4294967295\)/,
    ],
    ['a huge extent count', inLv('lin', 'extent_count = 3', 'extent_count = 99999999999999'), 'lin', /extent_count = 99999999999999, expected/],
    ['a start extent past the segments before', inLv('lin', 'start_extent = 3', 'start_extent = 7'), 'lin', /LV lin: a segment starts at extent 7, expected 3/],
    [
      'a stripe count of 0',
      inLv('lin', 'stripe_count = 1', 'stripe_count = 0'),
      'lin',
      /LV lin segment1 \(line \d+\): stripe_count = 0, expected the number of stripes \(1 to 65536\)/,
    ],
    [
      'a stripe count that is not a number',
      inLv('str', 'stripe_count = 2', 'stripe_count = "2"'),
      'str',
      /LV str segment1 \(line \d+\): stripe_count = "2", expected the number of stripes/,
    ],
    [
      'a stripe count beyond the stripes listed',
      inLv('str', 'stripe_count = 2', 'stripe_count = 3'),
      'str',
      /stripe_count = 3, but stripes lists 2 name, extent pairs/,
    ],
    [
      'a negative stripe size',
      inLv('str', 'stripe_size = 64', 'stripe_size = -64'),
      'str',
      /LV str segment1 \(line \d+\): stripe_size = -64, expected sectors a stripe chunk/,
    ],
    ['a stripe size of 0', inLv('str', 'stripe_size = 64', 'stripe_size = 0'), 'str', /stripe_size = 0, expected/],
    [
      'a stripe size that does not divide a stripe',
      inLv('str', 'stripe_size = 64', 'stripe_size = 3'),
      'str',
      /stripe_size = 3 sectors does not divide each stripe's 2 extents of 4096 sectors/,
    ],
    ['a stripe on a PV the VG does not have', inLv('lin', '"pv1", 9', '"pv7", 9'), 'lin', /stripe 0 is on pv7, which is neither a PV nor an LV of the VG/],
    ['an LV stacked on itself', inLv('lin', '"pv0", 0', '"lin", 0'), 'lin', /LV lin is stacked on itself/],
    ['a thin LV of a pool that does not exist', inLv('t1', 'thin_pool = "pool"', 'thin_pool = "nopool"'), 't1', /thin_pool = "nopool" names no LV of the VG/],
    ['a negative device id', inLv('t1', 'device_id = 1', 'device_id = -1'), 't1', /device_id = -1, expected a thin device id \(0 to 16777215\)/],
    // lvm2 refuses an LV whose segment_count is not its number of segment sections (import_vsn1.c _read_segments).
    [
      'a segment count past int32',
      inLv('lin', 'segment_count = 2', 'segment_count = 4294967296'),
      'lin',
      /LV lin: segment_count = 4294967296, expected its number of segments \(1 to 2147483647\)/,
    ],
    [
      'a segment count unlike its segments',
      inLv('lin', 'segment_count = 2', 'segment_count = 3'),
      'lin',
      /LV lin: segment_count = 3, but it has 2 segment sections \(segment1, segment2\)/,
    ],
    ['no segment count', inLv('lin', /segment_count = 2\n/, ''), 'lin', /LV lin has no segment_count/],
  ];
  for (const [what, edit, lv, message] of cases) {
    it(`${what}: a named problem of that LV in lvm ls; the LV refused by name; the other LVs still read`, () => {
      const images = edited(edit);
      const r = ls(...images);
      expect(r.code).toBe(1);
      expect(r.problems).toContainEqual({ kind: 'bad_lv', vg: 'vgst', lv, detail: expect.stringMatching(message) });
      const target = lv === 't1' ? 'vgst/t1' : `vgst/${lv}`;
      refused(dmthin('lvm', 'export', ...images, target, '-o', tmp.path(`${lv}-bad.img`)), message);
      expect(dmthin('lvm', 'export', ...images, 'vgst/lvol0_pmspare', '-o', tmp.path('spare-ok.img')).code).toBe(0);
    });
  }

  it('a pool whose metadata LV names no LV: named, and every pool command refuses it', () => {
    const images = edited(inLv('pool', 'metadata = "pool_tmeta"', 'metadata = "gone_tmeta"'));
    expect(ls(...images).problems).toContainEqual(
      expect.objectContaining({ kind: 'bad_lv', lv: 'pool', detail: expect.stringMatching(/metadata = "gone_tmeta" names no LV of the VG/) }),
    );
    refused(dmthin('lvm', 'check', ...images, 'vgst/pool'), /metadata = "gone_tmeta" names no LV of the VG/);
    refused(dmthin('lvm', 'export', ...images, 'vgst/t1', '-o', tmp.path('t1-nometa.img')), /gone_tmeta/);
  });

  const vgWide: Array<[string, (t: string) => string, RegExp]> = [
    ['an extent size of 0', (t) => t.replace('extent_size = 4096', 'extent_size = 0'), /extent_size = 0, expected sectors an extent \(1 to 4294967295\)/],
    ['a negative extent size', (t) => t.replace('extent_size = 4096', 'extent_size = -4096'), /extent_size = -4096/],
    ['a huge extent size', (t) => t.replace('extent_size = 4096', 'extent_size = 99999999999999'), /extent_size = 99999999999999/],
  ];
  for (const [what, edit, message] of vgWide) {
    it(`${what}: the VG text is named unreadable in lvm ls, and export says why there is no VG`, () => {
      const images = edited(edit);
      const r = ls(...images);
      expect(r.code).toBe(1);
      expect(r.problems.some((p) => p.kind === 'bad_vg_text' && message.test(p.detail))).toBe(true);
      refused(dmthin('lvm', 'export', ...images, 'vgst/lin', '-o', tmp.path('lin-vg.img')), message);
    });
  }

  const pvFields: Array<[string, (t: string) => string, RegExp]> = [
    [
      'a negative pe_start',
      (t) => t.replace('pe_start = 2048', 'pe_start = -1'),
      /PV pv0 \(line \d+\): pe_start = -1, expected the sector of its first extent/,
    ],
    ['a huge pe_start', (t) => t.replace('pe_start = 2048', 'pe_start = 9007199254740991'), /pe_start = 9007199254740991, expected/],
    ['a negative pe_count', (t) => t.replace('pe_count = 31', 'pe_count = -31'), /PV pv0 \(line \d+\): pe_count = -31, expected its number of extents/],
  ];
  for (const [what, edit, message] of pvFields) {
    it(`${what}: named in lvm ls; the LVs on that PV refused, the others read`, () => {
      const images = edited(edit);
      const r = ls(...images);
      expect(r.code).toBe(1);
      expect(r.problems).toContainEqual({ kind: 'bad_vg_text', vg: 'vgst', detail: expect.stringMatching(message) });
      refused(dmthin('lvm', 'export', ...images, 'vgst/lin', '-o', tmp.path('lin-pv.img')), message);
    });
  }

  it('a creation time no date can hold: lvm history says so instead of "Invalid time value"', () => {
    const images = edited((t) => t.replace(/^creation_time = \d+(?=\t#)/m, 'creation_time = 999999999999999'));
    for (const args of [[], ['--json']]) {
      const r = dmthin('lvm', 'history', ...args, ...images);
      expect(r.stderr).not.toMatch(ENGINE);
      expect(r.code, r.stderr).toBe(0);
    }
    // Said as not a time, or left out as none (history.ts may drop it): never a date made of it.
    expect(dmthin('lvm', 'history', ...images).stdout).toMatch(/seqno 16 {2}\((no time|creation_time 999999999999999, not a time)\)/);
  });
});

describe('a 2.3 TiB pool striped in 64 KiB chunks', () => {
  it('lvm check of its 4 MiB metadata runs in a 200 MiB heap: striped LVs are mapped segment by segment when read, not stripe by stripe up front', () => {
    // pool_tdata's second segment grown to 1.2 M extents over both PVs (the images grown sparse to hold them): 38 M stripe chunks.
    const images = edited((t) =>
      inLv(
        'pool_tdata',
        /extent_count = 4\n/,
        'extent_count = 1200000\n',
      )(inLv('pool', 'extent_count = 16', 'extent_count = 1200012')(t.replace(/pe_count = 31\n/g, 'pe_count = 600031\n'))),
    );
    for (const image of images) truncateSync(image, 1300 * 2 ** 30);
    const r = runTool(process.execPath, ['--max-old-space-size=200', cliPath, 'lvm', 'check', '--json', ...images, 'vgst/pool']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(ls(...images).lvs.find((l) => l.name === 'pool_tdata')).toMatchObject({ type: 'striped', size: 1200012 * 2 * MiB });
  });
});

describe('segment types dmthin does not read', () => {
  const raid = (t: string): string =>
    inLv(
      'pool_tmeta',
      /type = "striped"\nstripe_count = 1\n\nstripes = \[\n"pv1", 6\n\]/,
      'type = "raid1"\ndevice_count = 2\nregion_size = 1024\n\nraids = [\n"pool_tmeta_rmeta_0", "pool_tmeta_rimage_0",\n"pool_tmeta_rmeta_1", "pool_tmeta_rimage_1"\n]',
    )(t);
  it('a raid1 _tmeta: names the segment type, the LV, and its images that can still be read; never an internal error', () => {
    const images = edited(raid);
    const message =
      /pool pool's metadata LV pool_tmeta: LV pool_tmeta is a raid1 LV, whose segment type raid1 is not read .*each of its images \(pool_tmeta_rimage_0, pool_tmeta_rimage_1\) holds a whole copy/;
    refused(dmthin('lvm', 'check', ...images, 'vgst/pool'), message);
    refused(dmthin('lvm', 'export', ...images, 'vgst/t1', '-o', tmp.path('t1-raid.img')), message);
    expect(ls(...images).problems).toContainEqual(
      expect.objectContaining({ kind: 'unreadable_pool_metadata', lv: 'pool', detail: expect.stringMatching(message) }),
    );
    refused(
      dmthin('lvm', 'export', ...images, 'vgst/pool_tmeta', '-o', tmp.path('tmeta.img')),
      /vgst\/pool_tmeta is a raid1 LV: lvm export reads thin, linear and striped LVs \(each of its images/,
    );
  });
});

describe('names from the images are printed with control characters escaped', () => {
  it('an LV named with an escape sequence: lvm ls escapes it in every line, the JSON keeps it exact, messages escape it', () => {
    const evil = 'li\x1b[2J\x7fn';
    const images = edited((t) => t.replace('\nlin {', `\n"${evil}" {`));
    const text = dmthin('lvm', 'ls', ...images);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).not.toMatch(CONTROL);
    expect(text.stdout).toContain('li\\x1b[2J\\x7fn');
    const json = dmthin('lvm', 'ls', '--json', ...images);
    expect((JSON.parse(json.stdout) as { vgs: Array<{ lvs: Array<{ name: string }> }> }).vgs[0].lvs.map((l) => l.name)).toContain(evil);
    // A message naming it: the stripe on a PV the VG lacks.
    const broken = edited((t) => inLv(`"${evil}"`, '"pv1", 9', `"pv\x07", 9`)(t.replace('\nlin {', `\n"${evil}" {`)));
    const r = dmthin('lvm', 'ls', ...broken);
    expect(r.stdout).not.toMatch(CONTROL);
    expect(r.stdout).toMatch(/bad_lv vgst\/li\\x1b\[2J\\x7fn: LV li\\x1b\[2J\\x7fn segment2 \(line \d+\): .*pv\\x07/);
    const e = dmthin('lvm', 'export', ...broken, `vgst/${evil}`, '-o', tmp.path('evil.img'));
    expect(e.code).toBe(1);
    expect(e.stderr).not.toMatch(CONTROL);
    expect(readFileSync(images[0]).length).toBe(64 * MiB);
  });
});

describe('a name that is not VG/LV', () => {
  it('is a usage error (exit 2) that says the form and where the names are listed', () => {
    for (const args of [
      ['lvm', 'send', pv0, pv1, 'vgst/t1', '--base', '1', '-o', tmp.path('never.stream')],
      ['lvm', 'export', pv0, pv1, 't1', '-o', tmp.path('never.img')],
    ]) {
      const r = dmthin(...args);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/is not VG\/LV: give the VG's name and the LV's, as lvs shows them \(dmthin lvm ls IMAGE\.\.\. lists them\)\n$/);
    }
    expect(existsSync(tmp.path('never.stream')) || existsSync(tmp.path('never.img'))).toBe(false);
  });
});
