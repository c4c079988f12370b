/**
 * A thin device read through its mappings (src/thin/device-source.ts),
 * against the kernel: every device of the kernel-made Docker pool read
 * whole has the md5 the kernel read from /dev/mapper (fixtures/docker/facts.txt).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createHash, randomInt } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { FileSource } from '../../src/io/byte-source.js';
import { MetadataError } from '../../src/format/errors.js';
import { must } from '../../src/errors.js';
import { Metadata } from '../../src/thin/metadata.js';
import { ThinDeviceSource } from '../../src/thin/device-source.js';
import { patchBlock } from '../support/damage.js';
import { unpackDockerTree } from '../support/fixtures.js';
import { projectRoot, scratch } from '../support/env.js';

const tmp = scratch();
afterAll(() => tmp.cleanup());
const fixture = join(projectRoot, 'fixtures', 'docker');
const root = unpackDockerTree(tmp.path('docker'));
const files = join(root, 'devicemapper', 'devicemapper');

/** device id -> [size from Docker's record, the kernel's md5 of the device]. */
function kernelDevices(): Map<number, { size: number; md5: string }> {
  const md5 = new Map<number, string>();
  for (const line of readFileSync(join(fixture, 'facts.txt'), 'utf8').split('\n')) {
    const m = /^\S+ (\d+) ([0-9a-f]{32})$/.exec(line);
    if (m) md5.set(Number(m[1]), m[2]);
  }
  const out = new Map<number, { size: number; md5: string }>();
  const records = join(fixture, 'tree', 'devicemapper', 'metadata');
  for (const name of readdirSync(records)) {
    const r = JSON.parse(readFileSync(join(records, name), 'utf8'));
    if (typeof r.device_id === 'number' && md5.has(r.device_id)) out.set(r.device_id, { size: r.size, md5: must(md5.get(r.device_id), 'md5') });
  }
  return out;
}

describe('a thin device as a byte source', () => {
  it("reads every device of the kernel-made Docker pool exactly as the kernel did (md5 of the whole device), and any slice as the whole read's", () => {
    const devices = kernelDevices();
    expect(devices.size).toBe(7);
    const md = Metadata.open(join(files, 'metadata'));
    const data = new FileSource(join(files, 'data'));
    try {
      const bs = md.dataBlockBytes();
      for (const d of md.devices()) {
        const k = devices.get(d.devId);
        if (!k) continue;
        const src = new ThinDeviceSource(`thin ${d.devId}`, md.reader, must(d.mappingRoot, 'root'), data, bs, k.size);
        const whole = new Uint8Array(k.size);
        // Odd-sized reads that straddle blocks.
        for (let at = 0; at < k.size; at += 777_777) src.readAt(whole.subarray(at, Math.min(k.size, at + 777_777)), at);
        expect(createHash('md5').update(whole).digest('hex'), `thin ${d.devId}`).toBe(k.md5);
        expect(src.dataBytesRead).toBe(d.mappedBlocks * bs);
        for (let i = 0; i < 50; i++) {
          const at = randomInt(0, k.size - 1);
          const n = Math.min(k.size - at, randomInt(1, 3 * bs));
          const part = new Uint8Array(n);
          src.readAt(part, at);
          expect(Buffer.from(part).equals(Buffer.from(whole.subarray(at, at + n))), `${n} bytes at ${at}`).toBe(true);
        }
        expect(() => src.readAt(new Uint8Array(2), k.size - 1)).toThrow(/outside the device/);
      }
    } finally {
      data.close();
      md.close();
    }
  });

  it('a mapping node that cannot be read is an error naming its block, not zeros', () => {
    const meta = join(files, 'metadata');
    const md0 = Metadata.open(meta);
    const dev = must(
      md0.devices().find((d) => d.devId === 5),
      'thin 5',
    );
    const rootBlock = must(dev.mappingRoot, 'its root');
    md0.close();
    patchBlock(meta, rootBlock, (b) => {
      b[200] ^= 0xff;
    });
    const md = Metadata.open(meta);
    const data = new FileSource(join(files, 'data'));
    try {
      const src = new ThinDeviceSource('thin 5', md.reader, rootBlock, data, md.dataBlockBytes(), 33554432);
      let err: unknown;
      try {
        src.readAt(new Uint8Array(4096), 0);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(MetadataError);
      expect((err as MetadataError).block).toBe(rootBlock);
    } finally {
      data.close();
      md.close();
    }
  });
});
