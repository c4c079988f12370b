/**
 * Writing a VG's next text into its PVs' metadata areas (write-vg.ts), on
 * PVs lvm2 made (fixtures/lvm-single: one PV; lvm-striped: a VG over two).
 * What is written is read back by dmthin's own scan and history, and by
 * lvm2's own pvck, which reads a PV image file without device-mapper: its
 * --dump metadata shows the committed text (checksums checked: a mismatch
 * prints a CHECK line), --dump metadata_all every version in the ring.
 */
import { closeSync, existsSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { lvmHistory, openImages } from '../../src/lvm/images.js';
import { RAW_LOCN_IGNORED, writeMdaHeader } from '../../src/lvm/mda-header.js';
import { PvFile, findPv } from '../../src/lvm/pv.js';
import type { VgRunningProbe } from '../../src/lvm/running.js';
import { nextTextOffset, writeVgText } from '../../src/lvm/write-vg.js';
import { projectRoot, runTool, scratch, skipReason, xzDecompress } from '../support/env.js';
import { unpackStripedPvs } from '../support/fixtures.js';

const tmp = scratch();
afterAll(() => tmp.cleanup());
const notRunning: VgRunningProbe = () => undefined;
const pvck = ['/usr/sbin/pvck', '/sbin/pvck'].find(existsSync);

function must<T>(v: T | undefined | { problem: string }): T {
  if (v === undefined || (typeof v === 'object' && v !== null && 'problem' in v)) throw new Error('missing');
  return v as T;
}

let n = 0;
function singlePv(): string {
  const image = tmp.path(`single-${n++}.pv`);
  xzDecompress(join(projectRoot, 'fixtures', 'lvm-single.pv.xz'), image);
  return image;
}

function committed(paths: string[], vg: string): { seqno: number; text: string } {
  const images = openImages(paths);
  try {
    const a = images.scan.vgs.find((v) => v.vg.name === vg);
    if (!a) throw new Error(`no VG ${vg}`);
    return { seqno: a.vg.seqno, text: a.text };
  } finally {
    images.close();
  }
}

/** The VG's newest text with seqno + 1 and a description of `length` characters (a long one fills the ring sooner). */
function nextText(text: string, description = 'dmthin test write', length = 0): string {
  const seqno = Number(/^seqno = (\d+)$/m.exec(text)?.[1]);
  const words = description.padEnd(length, 'x');
  return text.replace(/^seqno = \d+$/m, `seqno = ${seqno + 1}`).replace(/^description = ".*"$/m, `description = "${words}"`);
}

function write(paths: string[], vg: string, text: string, options = {}): ReturnType<typeof writeVgText> {
  const images = openImages(paths);
  try {
    return writeVgText(images, vg, text, { running: notRunning, ...options });
  } finally {
    images.close();
  }
}

/** pvck's view of the committed text: its seqno, the text, and any CHECK (checksum or header) complaint. */
function pvckMetadata(image: string): { seqno: number; text: string; checks: string[] } {
  const r = runTool(pvck as string, ['--dump', 'metadata', image]);
  expect(r.code, r.stderr).toBe(0);
  const seqno = Number(/seqno (\d+)/.exec(r.stdout)?.[1]);
  const text = r.stdout.slice(r.stdout.indexOf('---\n') + 4, r.stdout.lastIndexOf('---'));
  const checks = `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => /CHECK|bad|invalid|error/i.test(l));
  return { seqno, text, checks };
}

describe('writing a VG text into its metadata areas', () => {
  it('the next text is read back by our scan at seqno + 1, and the history keeps the old version beside it', () => {
    const image = singlePv();
    const before = committed([image], 'vgfx');
    const text = nextText(before.text);
    const r = write([image], 'vgfx', text);
    expect(r.seqno).toBe(before.seqno + 1);
    expect(r.written).toHaveLength(1);
    const after = committed([image], 'vgfx');
    expect(after).toEqual({ seqno: before.seqno + 1, text });
    const seqnos = lvmHistory([image]).versions.map((v) => v.vg.seqno);
    expect(seqnos).toContain(before.seqno);
    expect(seqnos).toContain(before.seqno + 1);
  });

  it("places the text where lvm2 would: after the old one's last byte, at the next 512-byte boundary of the area", () => {
    // lvm2 2.03.16 wrote the fixture's seqno 9 at area offset 18944 (3102 bytes) and seqno 10 at 22528 (pvck --dump metadata_all).
    expect(nextTextOffset({ offset: 18944, size: 3102, checksum: 0, flags: 0 }, 1044480)).toBe(22528);
    // An old text ending on a boundary: lvm2 skips a whole 512 bytes.
    expect(nextTextOffset({ offset: 1024, size: 512, checksum: 0, flags: 0 }, 1044480)).toBe(2048);
    // Less than 512 bytes left after it: back to the ring's start.
    expect(nextTextOffset({ offset: 1044480 - 700, size: 300, checksum: 0, flags: 0 }, 1044480)).toBe(512);
    // A wrapped old text: the next follows its wrapped part.
    // its last byte is 999 (488 bytes wrapped from 512): the next starts at 1024.
    expect(nextTextOffset({ offset: 1044480 - 512, size: 1000, checksum: 0, flags: 0 }, 1044480)).toBe(1024);
    expect(nextTextOffset(undefined, 1044480)).toBe(512);
  });

  it.skipIf(skipReason(pvck !== undefined, 'lvm2 pvck not installed'))(
    "lvm2's pvck reads the written text, its checksums held, and every version in the ring",
    () => {
      const image = singlePv();
      const before = committed([image], 'vgfx');
      const text = nextText(before.text);
      write([image], 'vgfx', text);
      const seen = pvckMetadata(image);
      expect(seen.checks).toEqual([]);
      expect(seen.seqno).toBe(before.seqno + 1);
      expect(seen.text.trimEnd()).toBe(text.trimEnd());
      const all = runTool(pvck as string, ['--dump', 'metadata_all', image]).stdout;
      expect(all).toContain(`seqno ${before.seqno} `);
      expect(all).toContain(`seqno ${before.seqno + 1} `);
    },
  );

  it.skipIf(skipReason(pvck !== undefined, 'lvm2 pvck not installed'))(
    'a text that runs past the ring end continues at its start, and both lvm2 and our scan read it',
    () => {
      const image = singlePv();
      let wrapped = false;
      // 200 KB texts in a 1 MiB area: the fifth or so runs past the end.
      for (let i = 0; i < 8 && !wrapped; i++) {
        const before = committed([image], 'vgfx');
        const text = nextText(before.text, `write ${i}`, 200_000);
        const r = write([image], 'vgfx', text);
        wrapped = r.written[0].wrapped;
        expect(committed([image], 'vgfx')).toEqual({ seqno: before.seqno + 1, text });
        const seen = pvckMetadata(image);
        expect(seen.checks).toEqual([]);
        expect(seen.seqno).toBe(before.seqno + 1);
        expect(seen.text.trimEnd()).toBe(text.trimEnd());
      }
      expect(wrapped).toBe(true);
    },
  );

  it('writes every metadata area of a VG on two PVs, each with its own header', () => {
    const [pv0, pv1] = unpackStripedPvs((name) => tmp.path(`striped-${name}`));
    const before = committed([pv0, pv1], 'vgst');
    const text = nextText(before.text);
    const r = write([pv0, pv1], 'vgst', text);
    expect(new Set(r.written.map((w) => w.file))).toEqual(new Set([pv0, pv1]));
    // Each PV alone now says seqno + 1: both areas were committed.
    expect(committed([pv0], 'vgst').seqno).toBe(before.seqno + 1);
    expect(committed([pv1], 'vgst').seqno).toBe(before.seqno + 1);
    if (pvck) for (const pv of [pv0, pv1]) expect(pvckMetadata(pv).seqno).toBe(before.seqno + 1);
  });

  it('an ignored metadata area (pvchange --metadataignore) is left as it was; the others are written', () => {
    const [pv0, pv1] = unpackStripedPvs((name) => tmp.path(`ignored-${name}`));
    const before = committed([pv0, pv1], 'vgst');
    // pv1's area marked ignored in its header, as pvchange --metadataignore y leaves it.
    const file = new PvFile(pv1);
    const pv = must(findPv(file));
    file.close();
    const m = pv.metadataAreas[0];
    const h = must(m.header);
    const header = writeMdaHeader({ ...h, locns: [{ ...h.locns[0], flags: RAW_LOCN_IGNORED }] });
    const fd = openSync(pv1, 'r+');
    writeSync(fd, header, 0, header.length, m.area.offset);
    closeSync(fd);
    const ignoredBytes = readFileSync(pv1);
    const r = write([pv0, pv1], 'vgst', nextText(before.text));
    expect(r.written.map((w) => w.file)).toEqual([pv0]);
    expect(r.skipped).toEqual([{ file: pv1, areaStart: m.area.offset, why: 'ignored' }]);
    expect(readFileSync(pv1).equals(ignoredBytes)).toBe(true);
    expect(committed([pv0, pv1], 'vgst').seqno).toBe(before.seqno + 1);
  });

  it('a write stopped after the first header leaves the highest seqno readable, and the same write again finishes it', () => {
    const [pv0, pv1] = unpackStripedPvs((name) => tmp.path(`stopped-${name}`));
    const before = committed([pv0, pv1], 'vgst');
    const text = nextText(before.text);
    let headers = 0;
    const stop = (step: { kind: string }): void => {
      if (step.kind === 'header' && ++headers === 1) throw new Error('stopped');
    };
    expect(() => write([pv0, pv1], 'vgst', text, { afterWrite: stop })).toThrow('stopped');
    const seqnos = [committed([pv0], 'vgst').seqno, committed([pv1], 'vgst').seqno].sort();
    expect(seqnos).toEqual([before.seqno, before.seqno + 1]);
    expect(committed([pv0, pv1], 'vgst')).toEqual({ seqno: before.seqno + 1, text });
    const again = write([pv0, pv1], 'vgst', text);
    expect(again.written).toHaveLength(1);
    expect(again.skipped.map((s) => s.why)).toEqual(['already_written']);
    expect(committed([pv0], 'vgst').seqno).toBe(before.seqno + 1);
    expect(committed([pv1], 'vgst').seqno).toBe(before.seqno + 1);
  });
});

describe('refusals write nothing', () => {
  const unchanged = (image: string, f: () => void, message: RegExp): void => {
    const bytes = readFileSync(image);
    const mtime = statSync(image).mtimeMs;
    expect(f).toThrow(message);
    expect(readFileSync(image).equals(bytes)).toBe(true);
    expect(statSync(image).mtimeMs).toBe(mtime);
  };

  it('a seqno other than the next', () => {
    const image = singlePv();
    const { text, seqno } = committed([image], 'vgfx');
    const skip = text.replace(/^seqno = \d+$/m, `seqno = ${seqno + 2}`);
    unchanged(image, () => write([image], 'vgfx', skip), new RegExp(`seqno ${seqno + 2}.*the next is ${seqno + 1}`));
    const same = text.replace(/^description = ".*"$/m, 'description = "other"');
    unchanged(image, () => write([image], 'vgfx', same), /already hold with another text/);
  });

  it('another VG id, and text that does not parse', () => {
    const image = singlePv();
    const text = nextText(committed([image], 'vgfx').text);
    unchanged(image, () => write([image], 'vgfx', text.replace(/^id = ".*"$/m, 'id = "other-id"')), /VG id other-id/);
    unchanged(image, () => write([image], 'vgfx', `${text}\n}`), /cannot be read/);
  });

  it('an image given twice', () => {
    const image = singlePv();
    const text = nextText(committed([image], 'vgfx').text);
    unchanged(image, () => write([image, image], 'vgfx', text), /given twice/);
  });

  it('a VG the kernel runs', () => {
    const image = singlePv();
    const text = nextText(committed([image], 'vgfx').text);
    unchanged(image, () => write([image], 'vgfx', text, { running: () => 'vgfx-pool-tpool' }), /the kernel runs LVs of VG vgfx.*vgfx-pool-tpool/);
  });

  it('a text too large for the area, saying how large it may be', () => {
    const image = singlePv();
    const text = nextText(committed([image], 'vgfx').text, 'big', 600_000);
    unchanged(image, () => write([image], 'vgfx', text), /room for a text of 521472 .*the new text is \d+/);
  });

  it('a VG with a PV the images lack', () => {
    const [pv0] = unpackStripedPvs((name) => tmp.path(`missing-${name}`));
    const text = nextText(committed([pv0], 'vgst').text);
    unchanged(pv0, () => write([pv0], 'vgst', text), /is in none of the images/);
  });
});
