/**
 * LVM2's on-disk structures, as lvm2's sources define them (lib/label,
 * lib/format_text/layout.h, lib/misc/crc.c, libdm/libdm-config.c): each
 * codec round-trips, refuses damage by name, and the checksum agrees with
 * calc_crc written out bit by bit from its definition.
 */
import { describe, expect, it } from 'vitest';
import { LVM_CRC_INITIAL, lvmCrc } from '../../src/lvm/crc.js';
import { type PvLabel, SECTOR_SIZE, dashedUuid, parseLabel, writeLabel } from '../../src/lvm/label.js';
import { MDA_HEADER_SIZE, parseMdaHeader, readText, textExtents, writeMdaHeader } from '../../src/lvm/mda-header.js';
import { ConfigSyntaxError, parseConfigText } from '../../src/lvm/config-text.js';
import { mapLv, volumeGroup } from '../../src/lvm/vg.js';
import { LvSource } from '../../src/lvm/lv-source.js';
import { must } from '../../src/errors.js';

/** lib/misc/crc.c calc_crc, one bit at a time: no inversion before or after. */
function calcCrc(initial: number, buf: Uint8Array): number {
  let crc = initial >>> 0;
  for (const byte of buf) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return crc >>> 0;
}

function bytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

describe('LVM checksum', () => {
  it('is calc_crc from 0xf597a6cf, and chains over parts', () => {
    for (const n of [0, 1, 7, 492, 4096]) {
      const b = bytes(n, n + 1);
      expect(lvmCrc(b), `${n} bytes`).toBe(calcCrc(LVM_CRC_INITIAL, b));
    }
    const b = bytes(1000, 3);
    expect(lvmCrc(b.subarray(300), lvmCrc(b.subarray(0, 300)))).toBe(calcCrc(LVM_CRC_INITIAL, b));
  });
});

const LABEL: PvLabel = {
  sector: 1,
  uuid: '7rbD9eeF7NSGg3PGdrNftlpHdKI9w2Qf',
  deviceSize: 64 * 2 ** 20,
  dataAreas: [{ offset: 2 ** 20, size: 0 }],
  metadataAreas: [{ offset: 4096, size: 0xff000 }],
  extension: { version: 2, flags: 1, bootloaderAreas: [] },
};

describe('PV label', () => {
  it('round-trips, with the fields where layout.h puts them', () => {
    const s = writeLabel(LABEL);
    expect(s.length).toBe(SECTOR_SIZE);
    expect(Buffer.from(s.subarray(0, 8)).toString()).toBe('LABELONE');
    expect(Buffer.from(s.subarray(24, 32)).toString()).toBe('LVM2 001');
    expect(Buffer.from(s.subarray(32, 64)).toString()).toBe(LABEL.uuid);
    expect(new DataView(s.buffer).getUint32(16, true)).toBe(calcCrc(LVM_CRC_INITIAL, s.subarray(20)));
    expect(parseLabel(s, 1)).toEqual(LABEL);
    const old = { ...LABEL, extension: undefined };
    expect(parseLabel(writeLabel(old), 1)).toEqual({ ...old, extension: undefined });
  });

  it('refuses a wrong checksum, a label copied from another sector, a foreign type', () => {
    const s = writeLabel(LABEL);
    s[100] ^= 1;
    expect(parseLabel(s, 1)).toMatch(/bad label checksum/);
    expect(parseLabel(writeLabel(LABEL), 2)).toBe('label says it is in sector 1');
    const t = writeLabel(LABEL);
    t.set(Buffer.from('LVM1 001'), 24);
    new DataView(t.buffer).setUint32(16, calcCrc(LVM_CRC_INITIAL, t.subarray(20)), true);
    expect(parseLabel(t, 1)).toMatch(/label type "LVM1 001"/);
    expect(parseLabel(new Uint8Array(SECTOR_SIZE), 1)).toBe('no LABELONE');
  });

  it('writes uuids as the VG text does, 6-4-4-4-4-4-6', () => {
    expect(dashedUuid(LABEL.uuid)).toBe('7rbD9e-eF7N-SGg3-PGdr-Nftl-pHdK-I9w2Qf');
  });
});

describe('metadata area', () => {
  it('round-trips its header and refuses damage by name', () => {
    const h = { version: 1, start: 4096, size: 0xff000, locns: [{ offset: 512, size: 827, checksum: 0x89c7892e, flags: 0 }] };
    const b = writeMdaHeader(h);
    expect(Buffer.from(b.subarray(4, 20)).toString('latin1')).toBe(' LVM2 x[5A%r0N*>');
    expect(parseMdaHeader(b, 4096)).toEqual(h);
    expect(parseMdaHeader(b, 8192)).toBe('mda header says it starts at byte 4096 (expected 8192)');
    b[300] ^= 1;
    expect(parseMdaHeader(b, 4096)).toMatch(/bad mda header checksum/);
  });

  it('reads a text that wraps round the circular buffer, checking its checksum over both parts', () => {
    const area = 4096;
    const text = Buffer.from(`vg0 {\nseqno = 7\n}\n${'#'.repeat(600)}\n\0`);
    // Place it so that it runs 100 bytes past the end of the area.
    const offset = area - (text.length - 100);
    const buf = new Uint8Array(area);
    buf.set(text.subarray(0, area - offset), offset);
    buf.set(text.subarray(area - offset), MDA_HEADER_SIZE);
    expect(textExtents(offset, text.length, area)).toEqual([
      { offset, size: area - offset },
      { offset: MDA_HEADER_SIZE, size: 100 },
    ]);
    const locn = { offset, size: text.length, checksum: calcCrc(LVM_CRC_INITIAL, text), flags: 0 };
    const got = readText(locn, area, (o, n) => buf.subarray(o, o + n));
    expect(got).toBe(text.subarray(0, text.length - 1).toString());
    expect(readText({ ...locn, checksum: locn.checksum ^ 1 }, area, (o, n) => buf.subarray(o, o + n))).toEqual({
      problem: expect.stringMatching(/bad VG text checksum/),
    });
    expect(readText({ ...locn, offset: 100 }, area, (o, n) => buf.subarray(o, o + n))).toEqual({
      problem: expect.stringMatching(/text at byte 100 of the area, \d+ bytes \(expected inside the area's 3584-byte ring after its header\)/),
    });
  });
});

describe('VG text grammar', () => {
  const text = [
    '# comment before',
    'vg0 {',
    'id = "Ba1tMd-sMXl-10Ta-V3FM-NANx-1wKg-4BrejZ"',
    'seqno = 12',
    'status = ["RESIZEABLE", "READ", "WRITE"]',
    'flags = []',
    'extent_size = 8192\t# 4 MiB',
    'physical_volumes {',
    '  pv0 {',
    '    device = "/dev/sda3"',
    '    dev_size = 9007199254740991',
    '    pe_start = 2048',
    '  }',
    '}',
    'logical_volumes {',
    'data {',
    'segment1 {',
    'stripes = [',
    '"pv0", 0',
    '"pv1" 010',
    ']',
    'note = "say \\"hi\\" \\\\ bye"',
    "raw = 'a\\b'",
    'bare = yes',
    'neg = -5',
    '}',
    '}',
    '}',
    '}',
    'contents = "Text Format Volume Group"',
    'version = 1',
    '',
  ].join('\n');

  it('reads sections, integers, strings with escapes, lists with or without commas', () => {
    const top = parseConfigText(text);
    expect(top.order).toEqual(['vg0', 'contents', 'version']);
    const vg = must(top.section('vg0'), 'section vg0');
    expect([vg.string('id'), vg.number('seqno'), vg.number('extent_size')]).toEqual(['Ba1tMd-sMXl-10Ta-V3FM-NANx-1wKg-4BrejZ', 12, 8192]);
    expect(vg.list('status')).toEqual(['RESIZEABLE', 'READ', 'WRITE']);
    expect(vg.list('flags')).toEqual([]);
    const pvs = must(vg.section('physical_volumes'), 'physical_volumes');
    expect(must(pvs.section('pv0'), 'pv0').number('dev_size')).toBe(Number.MAX_SAFE_INTEGER);
    const lvs = must(vg.section('logical_volumes'), 'logical_volumes');
    const seg = must(must(lvs.section('data'), 'LV data').section('segment1'), 'segment1');
    expect(seg.list('stripes')).toEqual(['pv0', 0, 'pv1', 8]); // 010 is octal, as strtoll base 0 reads it
    expect(seg.string('note')).toBe('say "hi" \\ bye');
    expect(seg.string('raw')).toBe('a\\b');
    expect([seg.string('bare'), seg.number('neg')]).toEqual(['yes', -5]);
    expect(top.number('version')).toBe(1);
  });

  it('refuses what LVM never writes, naming the line', () => {
    const bad: Array<[string, RegExp]> = [
      ['vg {\nx = 1.5\n}', /line 2 column 5: 1\.5: VG text has no fractional numbers/],
      ['vg {\nx = 1\nx = 2\n}', /line 3 column 1: x appears twice/],
      ['vg {\nx = [1, 2\n', /unterminated list/],
      ['vg {\ny = "abc\n}', /line 2 column 5: string not closed before the end of the text/],
      ['vg {\nz = 1\n', /section vg \(line 1\) is not closed/],
      ['}', /"}" without a section/],
      ['vg {\nw = 99999999999999999999\n}', /too large/],
      ['vg {\nv = 09\n}', /not an octal number/],
    ];
    for (const [t, re] of bad) {
      expect(() => parseConfigText(t), t).toThrow(ConfigSyntaxError);
      expect(() => parseConfigText(t), t).toThrow(re);
    }
  });
});

describe('LV extents onto PVs (vg.ts)', () => {
  const text = `vg1 {
id = "x"
seqno = 4
extent_size = 8192
physical_volumes {
pv0 {
id = "a"
pe_start = 2048
pe_count = 100
}
pv1 {
id = "b"
pe_start = 4096
pe_count = 100
}
}
logical_volumes {
striped {
status = ["READ", "WRITE", "VISIBLE"]
segment_count = 2
segment1 {
start_extent = 0
extent_count = 4
type = "striped"
stripe_count = 2
stripe_size = 128
stripes = ["pv0", 10, "pv1", 20]
}
segment2 {
start_extent = 4
extent_count = 1
type = "striped"
stripe_count = 1
stripes = ["pv1", 50]
}
}
stacked {
status = ["READ", "WRITE"]
segment_count = 1
segment1 {
start_extent = 0
extent_count = 1
type = "striped"
stripe_count = 1
stripes = ["striped", 4]
}
}
mirrored {
segment_count = 1
segment1 {
start_extent = 0
extent_count = 1
type = "raid1"
}
}
}
}
`;
  const MiB = 2 ** 20;
  const vg = volumeGroup(must(parseConfigText(text).section('vg1'), 'section vg1'));

  it('reads the model: extent size, PVs, visible LVs, segments in order', () => {
    expect([vg.name, vg.seqno, vg.extentSize, vg.pvs.map((p) => [p.key, p.peStart])]).toEqual([
      'vg1',
      4,
      8192,
      [
        ['pv0', 2048],
        ['pv1', 4096],
      ],
    ]);
    expect([must(vg.lvs.get('striped'), 'LV striped').visible, must(vg.lvs.get('stacked'), 'LV stacked').visible]).toEqual([true, false]);
    expect(must(vg.lvs.get('striped'), 'LV striped').segments.map((s) => [s.startExtent, s.areas.length, s.stripeSize])).toEqual([
      [0, 2, 128],
      [4, 1, undefined],
    ]);
    expect(must(vg.lvs.get('stacked'), 'LV stacked').segments[0].areas).toEqual([{ lv: 'striped', start: 4 }]);
  });

  it('interleaves striped extents chunk by chunk across the areas, in order', () => {
    // PV extent E of pv0 is at (2048 + E * 8192) * 512 bytes; pv1's at (4096 + E * 8192) * 512.
    const pv0 = (e: number): number => (2048 + e * 8192) * 512;
    const pv1 = (e: number): number => (4096 + e * 8192) * 512;
    const chunk = 128 * 512;
    expect(mapLv(vg, 'striped', 0, 4 * chunk)).toEqual([
      { pv: 'pv0', offset: pv0(10), length: chunk },
      { pv: 'pv1', offset: pv1(20), length: chunk },
      { pv: 'pv0', offset: pv0(10) + chunk, length: chunk },
      { pv: 'pv1', offset: pv1(20) + chunk, length: chunk },
    ]);
    // Half way into chunk 5 (stripe 1, row 2), 10 bytes.
    expect(mapLv(vg, 'striped', 5 * chunk + chunk / 2, 10)).toEqual([{ pv: 'pv1', offset: pv1(20) + 2 * chunk + chunk / 2, length: 10 }]);
    // The second segment is linear on pv1 from extent 50.
    expect(mapLv(vg, 'striped', 16 * MiB + 5, 3)).toEqual([{ pv: 'pv1', offset: pv1(50) + 5, length: 3 }]);
  });

  it("follows an LV stacked on another LV's extents, and names what it does not read", () => {
    const pv1 = (e: number): number => (4096 + e * 8192) * 512;
    expect(mapLv(vg, 'stacked', 7, 2)).toEqual([{ pv: 'pv1', offset: pv1(50) + 7, length: 2 }]);
    expect(() => mapLv(vg, 'mirrored', 0, 1)).toThrow(/segment type raid1 is not read/);
    expect(() => mapLv(vg, 'stacked', 4 * MiB, 1)).toThrow(/past its last segment/);
    expect(() => mapLv(vg, 'nope', 0, 1)).toThrow(/no LV nope/);
  });

  it('refuses, when opened, an LV whose PV no image given holds', () => {
    expect(() => new LvSource(vg, 'striped', new Map())).toThrow(/striped lies on pv0, which none of the images given holds/);
  });
});

describe('older VG texts in the circular buffer (history.ts)', () => {
  /** A VG text of about `pad` bytes more than the minimum, for seqno `k`. */
  const vgText = (k: number, pad: number): string =>
    `vgh {\nid = "aaaaaa-bbbb-cccc-dddd-eeee-ffff-gggggg"\nseqno = ${k}\nformat = "lvm2"\nextent_size = 8192\n` +
    'physical_volumes {\npv0 {\nid = "PVPVPV-PVPV-PVPV-PVPV-PVPV-PVPV-PVPVPV"\npe_start = 2048\npe_count = 10\n}\n}\n' +
    `logical_volumes {\nlv${k} {\nid = "x"\nstatus = ["READ", "VISIBLE"]\nsegment_count = 1\nsegment1 {\nstart_extent = 0\nextent_count = 1\ntype = "striped"\nstripe_count = 1\nstripes = ["pv0", 0]\n}\n}\n}\n}\n` +
    `# ${'x'.repeat(pad)}\ncontents = "Text Format Volume Group"\nversion = 1\ndescription = "version ${k}"\ncreation_host = "h"\ncreation_time = ${1700000000 + k}\n`;

  it('finds each version no later one overwrote, one that wraps round the end included, and drops the overwritten', async () => {
    const { vgVersionsIn } = await import('../../src/lvm/history.js');
    const { PvFile, findPv } = await import('../../src/lvm/pv.js');
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const AREA = 8192;
    const ring = new Uint8Array(AREA - MDA_HEADER_SIZE);
    const written: Array<{ k: number; start: number; len: number }> = [];
    let at = 0; // position in the ring of the next text, as LVM writes them: one after another at the next 512-byte boundary, wrapping
    for (let k = 1; k <= 9; k++) {
      const t = Buffer.from(`${vgText(k, 300 + 97 * k)}\0`, 'latin1');
      for (let i = 0; i < t.length; i++) ring[(at + i) % ring.length] = t[i];
      written.push({ k, start: at, len: Math.ceil(t.length / 512) * 512 });
      at = (at + Math.ceil(t.length / 512) * 512) % ring.length;
    }
    const last = { ...written[written.length - 1], len: `${vgText(9, 300 + 97 * 9)}\0`.length };
    const pvImage = new Uint8Array(64 * 1024);
    pvImage.set(
      writeLabel({
        sector: 1,
        uuid: 'PVPVPVPVPVPVPVPVPVPVPVPVPVPVPVPV',
        deviceSize: pvImage.length,
        dataAreas: [{ offset: 16384, size: 0 }],
        metadataAreas: [{ offset: 4096, size: AREA }],
      }),
      512,
    );
    // The committed text's checksum, over its (possibly wrapped) parts in order.
    const parts = textExtents(last.start + MDA_HEADER_SIZE, last.len, AREA);
    const crc = parts.reduce<number | undefined>(
      (c, p) => lvmCrc(ring.subarray(p.offset - MDA_HEADER_SIZE, p.offset - MDA_HEADER_SIZE + p.size), c),
      undefined,
    );
    pvImage.set(
      writeMdaHeader({
        version: 1,
        start: 4096,
        size: AREA,
        locns: [{ offset: last.start + MDA_HEADER_SIZE, size: last.len, checksum: must(crc, "the text's checksum"), flags: 0 }],
      }),
      4096,
    );
    pvImage.set(ring, 4096 + MDA_HEADER_SIZE);
    const dir = mkdtempSync(join(tmpdir(), 'dmthin-history-'));
    try {
      const path = join(dir, 'pv.img');
      writeFileSync(path, pvImage);
      const f = new PvFile(path);
      try {
        const pv = findPv(f);
        if (!pv || 'problem' in pv) throw new Error('no PV');
        expect(pv.metadataAreas[0].text).toBeDefined();
        const found = vgVersionsIn(f, pv);
        // A version survives when it and everything written after it fit the ring.
        const survivors = written.filter((w) => written.filter((x) => x.k >= w.k).reduce((n, x) => n + x.len, 0) <= ring.length).map((w) => w.k);
        expect(survivors.length).toBeGreaterThan(2);
        expect(survivors.length).toBeLessThan(9);
        expect(written.some((w) => survivors.includes(w.k) && w.start + w.len > ring.length)).toBe(true); // one of them wraps
        expect(found.map((v) => v.vg.seqno).sort((a, b) => a - b)).toEqual(survivors);
        expect(found.filter((v) => v.committed).map((v) => v.vg.seqno)).toEqual([9]);
        expect(
          must(
            found.find((v) => v.vg.seqno === 9),
            'version 9',
          ).description,
        ).toBe('version 9');
      } finally {
        f.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
