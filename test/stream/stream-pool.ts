/**
 * A small pool for stream tests and the stream fuzzer, made through the
 * CLI (dist/) as a user would: an origin (1), a snapshot of it (2), and a
 * later snapshot (3) that rewrote, added and dropped blocks; blocks of
 * 64 KiB, each data block of distinct bytes. `send` writes streams of it,
 * `image` the bytes a device holds (dmthin export).
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cliPath as builtCli } from '../support/cli.js';
import { emptyFile } from '../support/env.js';

/** The CLI the stream tests and the fuzzer run: this checkout's dist/dmthin.cjs, or the build FUZZ_CLI names. */
export const cliPath = process.env.FUZZ_CLI ?? builtCli;

export const BS = 65536;
/** Blocks of each device: 16, so that images stay small (1 MiB). */
export const BLOCKS = 16;
export const SIZE = BLOCKS * BS;

export interface StreamPool {
  meta: string;
  data: string;
  /** Writes a stream of `dev` (since `base`) to `out`. */
  send(out: string, dev: number, base?: number, size?: number): void;
  /** Writes device `dev`'s bytes (SIZE of them) to `out`. */
  image(out: string, dev: number): void;
}

function cli(args: string[]): void {
  const r = spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`dmthin ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
}

export function makeStreamPool(dir: string): StreamPool {
  const range = (v: number, d: number, n: number, t: number): string =>
    `    <range_mapping origin_begin="${v}" data_begin="${d}" length="${n}" time="${t}"/>\n`;
  // 3: 0..3 shared, 4..5 rewritten, 6..7 dropped, 8..11 shared, 12..13 new.
  const xml =
    '<superblock uuid="" time="2" transaction="3" flags="0" version="2" data_block_size="128" nr_data_blocks="64">\n' +
    `  <device dev_id="1" mapped_blocks="12" transaction="0" creation_time="0" snap_time="2">\n${range(0, 0, 12, 0)}  </device>\n` +
    `  <device dev_id="2" mapped_blocks="12" transaction="1" creation_time="1" snap_time="1">\n${range(0, 0, 12, 0)}  </device>\n` +
    `  <device dev_id="3" mapped_blocks="12" transaction="2" creation_time="2" snap_time="2">\n${range(0, 0, 4, 0)}${range(4, 40, 2, 2)}${range(8, 8, 4, 0)}${range(12, 50, 2, 2)}  </device>\n` +
    '</superblock>\n';
  writeFileSync(join(dir, 'pool.xml'), xml);
  const meta = emptyFile(join(dir, 'pool.meta'), 4 << 20);
  cli(['restore', '-i', join(dir, 'pool.xml'), '-o', meta]);
  const d = new Uint8Array(64 * BS);
  for (let b = 0; b < 64; b++) d.fill((b * 7 + 3) & 255, b * BS, (b + 1) * BS).set([b & 255, 0xa5], b * BS);
  const data = join(dir, 'pool.data');
  writeFileSync(data, d);
  return {
    meta,
    data,
    send: (out, dev, base, size = SIZE) =>
      cli([
        'send',
        '--metadata',
        meta,
        '--data',
        data,
        '--dev-id',
        String(dev),
        ...(base === undefined ? [] : ['--base', String(base)]),
        '--size',
        String(size),
        '-o',
        out,
      ]),
    image: (out, dev) => cli(['export', '--metadata', meta, '--data', data, '--dev-id', String(dev), '--size', String(SIZE), '-o', out]),
  };
}
