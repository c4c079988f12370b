/**
 * A pool whose thin device 1 is a given image (a filesystem made by mkfs):
 * every 64 KiB block of it that is not all zeros becomes a mapping, its
 * bytes in the data file, the metadata made by dmthin restore. What the
 * lost-range tests damage and read back.
 */
import { closeSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { dmthin } from './cli.js';

export const IMAGE_POOL_BLOCK = 65536;

export function imagePool(bytes: Buffer, path: (name: string) => string, name: string): { meta: string; data: string } {
  const BS = IMAGE_POOL_BLOCK;
  const mapped: number[] = [];
  for (let v = 0; v < bytes.length / BS; v++) if (bytes.subarray(v * BS, (v + 1) * BS).some((x) => x !== 0)) mapped.push(v);
  const data = path(`${name}.data`);
  writeFileSync(data, '');
  const fd = openSync(data, 'w');
  for (const [i, v] of mapped.entries()) writeSync(fd, bytes, v * BS, BS, i * BS);
  closeSync(fd);
  const xml =
    `<superblock uuid="" time="0" transaction="1" flags="0" version="2" data_block_size="128" nr_data_blocks="${mapped.length}">\n` +
    `  <device dev_id="1" mapped_blocks="${mapped.length}" transaction="0" creation_time="0" snap_time="0">\n` +
    mapped.map((v, i) => `    <single_mapping origin_block="${v}" data_block="${i}" time="0"/>\n`).join('') +
    '  </device>\n</superblock>\n';
  writeFileSync(path(`${name}.xml`), xml);
  const meta = path(`${name}.meta`);
  writeFileSync(meta, Buffer.alloc(4 << 20));
  const r = dmthin('restore', '-i', path(`${name}.xml`), '-o', meta);
  if (r.code !== 0) throw new Error(`restore of the image pool failed: ${r.stderr}`);
  return { meta, data };
}
