/**
 * receive given what a hostile or unlucky user gives it: streams whose
 * header claims more than the filesystem can hold, endless standard input,
 * a state record that is the target or the stream, FIFOs. Whatever is
 * refused leaves every file as it was.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, linkSync, openSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { cliPath } from '../support/cli.js';
import { scratch } from '../support/env.js';
import { type Part, seal, splitStream, withField } from './stream-bytes.js';
import { SIZE, type StreamPool, makeStreamPool } from './stream-pool.js';

const tmp = scratch('dmthin-hostile-');
afterAll(() => tmp.cleanup());
let pool: StreamPool;
const sha = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');
/** Every file of the scratch directory with its hash. */
const snapshot = (): Record<string, string> =>
  Object.fromEntries(readdirSync(tmp.dir, { withFileTypes: true }).map((e) => [e.name, e.isFile() ? sha(tmp.path(e.name)) : 'not a file']));
const receive = (...args: string[]): { code: number | null; stderr: string } => {
  const r = spawnSync(process.execPath, [cliPath, 'receive', ...args], { encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, stderr: r.stderr };
};
/** A stream with its header's virtual size set, sealed again. */
const claiming = (stream: string, size: bigint, out: string): string => {
  const parts: Part[] = splitStream(new Uint8Array(readFileSync(stream)));
  parts[0] = { type: 'header', bytes: withField(parts[0].bytes, 32, 8, size) };
  writeFileSync(out, seal(parts));
  return out;
};
const TIB16 = 16n << 40n;

beforeAll(() => {
  pool = makeStreamPool(tmp.dir);
  pool.send(tmp.path('full2.stream'), 2);
  pool.send(tmp.path('inc3.stream'), 3, 2);
  pool.send(tmp.path('full3.stream'), 3);
  pool.image(tmp.path('dev2.img'), 2);
  pool.image(tmp.path('dev3.img'), 3);
});

/** A target holding thin 2, received from the full stream. */
function goodTarget(name: string): string {
  const t = tmp.path(name);
  expect(receive('-i', tmp.path('full2.stream'), '-o', t).code).toBe(0);
  return t;
}

describe('receive refuses what the filesystem cannot hold, before anything changes', () => {
  it('a full stream whose header claims 16 TiB leaves a good earlier image and its state record byte-identical', () => {
    const t = goodTarget('a.img');
    const s = claiming(tmp.path('full2.stream'), TIB16, tmp.path('a16t.stream'));
    const before = snapshot();
    const r = receive('-i', s, '-o', t);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^[^\n]*17592186044416 bytes[^\n]*\n$/);
    expect(r.stderr).not.toMatch(/ftruncate|internal error|\n\s+at /);
    expect(snapshot()).toEqual(before);
  });

  it('an incremental stream whose header claims 16 TiB leaves target and state record byte-identical, and the true one applies after', () => {
    const t = goodTarget('b.img');
    const s = claiming(tmp.path('inc3.stream'), TIB16, tmp.path('b16t.stream'));
    const before = snapshot();
    const r = receive('-i', s, '-o', t);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^[^\n]*17592186044416 bytes[^\n]*\n$/);
    expect(snapshot()).toEqual(before);
    expect(receive('-i', tmp.path('inc3.stream'), '-o', t).code).toBe(0);
    expect(sha(t)).toBe(sha(tmp.path('dev3.img')));
  });

  it('a header claiming more than 2^53 bytes, or a size that is not whole blocks, is named by its field', () => {
    const t = goodTarget('c.img');
    const before = snapshot();
    for (const [size, why] of [
      [(1n << 64n) - 1n, /byte 32: .*virtual size 18446744073709551615 bytes: expected at most/],
      [BigInt(SIZE) + 512n, /byte 32: .*virtual size \d+ bytes: expected a multiple of the block size/],
    ] as const) {
      const s = claiming(tmp.path('inc3.stream'), size, tmp.path('odd.stream'));
      const r = receive('-i', s, '-o', t);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(why);
    }
    const after = snapshot();
    delete after['odd.stream'];
    expect(after).toEqual(before);
  });
});

describe('standard input is read no further than the stream can reach', () => {
  it('a valid header followed by junk: refused after the first record, not after staging all of it', async () => {
    const t = goodTarget('d.img');
    const before = snapshot();
    const head = readFileSync(tmp.path('full2.stream')).subarray(0, 256);
    const child = spawn(process.execPath, [cliPath, 'receive', '-i', '-', '-o', t], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b) => {
      stderr += b;
    });
    let sent = 0;
    let open = true;
    const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    child.on('exit', () => {
      open = false;
    });
    child.stdin.on('error', () => {
      open = false;
    });
    const junk = Buffer.alloc(1 << 20, 0x44);
    child.stdin.write(head);
    while (open && sent < 256 << 20) {
      if (!child.stdin.write(junk)) await new Promise((r) => child.stdin.once('drain', r).once('close', r));
      sent += junk.length;
    }
    child.stdin.destroy();
    expect(await exited).toBe(1);
    expect(sent).toBeLessThan(32 << 20);
    expect(stderr).toMatch(/^dmthin: standard input, byte 256: record 1 \(data\)/);
    expect(snapshot()).toEqual(before);
  });

  it('receive -i - < /dev/zero stops at the header', () => {
    const t = goodTarget('e.img');
    const before = snapshot();
    const zero = openSync('/dev/zero', 'r');
    try {
      const r = spawnSync(process.execPath, [cliPath, 'receive', '-i', '-', '-o', t], { stdio: [zero, 'pipe', 'pipe'], encoding: 'utf8', timeout: 20_000 });
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/^dmthin: standard input, byte 0: not a dmthin stream/);
    } finally {
      closeSync(zero);
    }
    expect(snapshot()).toEqual(before);
  });

  it('a few bytes that are not a stream are named not a stream, not a truncated one; a cut stream still is truncated', () => {
    const t = goodTarget('h.img');
    const before = snapshot();
    const run = (input: string) => spawnSync(process.execPath, [cliPath, 'receive', '-i', '-', '-o', t], { input, encoding: 'utf8', timeout: 20_000 });
    const hello = run('hello\n');
    expect(hello.status).toBe(1);
    expect(hello.stderr).toMatch(
      /^dmthin: standard input, byte 0: not a dmthin stream \(no magic\); .*h\.img was not changed: give the file \(or pipe\) dmthin send or lvm send wrote\n$/,
    );
    const cut = run('dmthin-str');
    expect(cut.status).toBe(1);
    expect(cut.stderr).toMatch(
      /^dmthin: standard input, byte 10: the header: the stream ends early \(truncated\?\): 246 more bytes expected; .* send the stream again\n$/,
    );
    expect(snapshot()).toEqual(before);
  });
});

describe('the state record, the target and the stream are three different files', () => {
  it('--state naming the target (by name, symbolic or hard link) is refused and the target left as it was', () => {
    const t = goodTarget('f.img');
    symlinkSync(t, tmp.path('f-sym'));
    linkSync(t, tmp.path('f-hard'));
    const before = snapshot();
    for (const state of [t, tmp.path('f-sym'), tmp.path('f-hard')]) {
      const r = receive('-i', tmp.path('inc3.stream'), '-o', t, '--state', state);
      expect(r.code, state).toBe(2);
      expect(r.stderr).toMatch(/state record .* is the target/);
    }
    // A new target and --state the same new name: nothing made.
    expect(receive('-i', tmp.path('full2.stream'), '-o', tmp.path('new.img'), '--state', tmp.path('new.img')).code).toBe(2);
    expect(snapshot()).toEqual(before);
  });

  it('--state or the target naming the stream is refused, the stream untouched', () => {
    const t = goodTarget('g.img');
    const before = snapshot();
    // Each named for what it is: not "the output is an input".
    const asState = receive('-i', tmp.path('inc3.stream'), '-o', t, '--state', tmp.path('inc3.stream'));
    expect(asState.code).toBe(2);
    expect(asState.stderr).toMatch(/^dmthin: the state record .*inc3\.stream is the stream being read: .*give --state another file/);
    const asTarget = receive('-i', tmp.path('inc3.stream'), '-o', tmp.path('inc3.stream'));
    expect(asTarget.code).toBe(2);
    expect(asTarget.stderr).toMatch(/^dmthin: the target .*inc3\.stream is the stream being read: .*give another target/);
    // An empty path is no file: refused (by the CLI's parser, and by the library for its own callers).
    expect(receive('-i', tmp.path('full2.stream'), '-o', '').code).toBe(2);
    expect(receive('-i', tmp.path('full2.stream'), '-o', t, '--state', '').code).toBe(2);
    expect(snapshot()).toEqual(before);
  });
});

describe('FIFOs, sockets and character devices are refused, not waited on', () => {
  it('as the stream or as the state record', () => {
    const t = goodTarget('h.img');
    const fifo = tmp.path('fifo');
    execFileSync('mkfifo', [fifo]);
    const before = snapshot();
    for (const args of [
      ['-i', fifo, '-o', t],
      ['-i', tmp.path('inc3.stream'), '-o', t, '--state', fifo],
      ['-i', '/dev/zero', '-o', t],
      ['-i', tmp.path('inc3.stream'), '-o', t, '--state', '/dev/zero'],
      ['-i', tmp.path('full2.stream'), '-o', fifo, '--state', tmp.path('fifo-target.state')],
    ]) {
      const r = receive(...args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toMatch(/is a (FIFO|character device).*: give a regular file/);
    }
    expect(snapshot()).toEqual(before);
    // A state record in a directory that is not there: said before the stream is read.
    expect(receive('-i', tmp.path('full2.stream'), '-o', tmp.path('x.img'), '--state', tmp.path('nodir/x.state'))).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/cannot write state record .*nodir\/x\.state: its directory .*: no such file/),
    });
    expect(snapshot()).toEqual(before);
  });
});

describe('a full stream into a file is written beside it', () => {
  it('killed half way, it leaves the earlier image whole; the same stream finishes it (removing what the killed one wrote), another is refused', () => {
    const t = goodTarget('k.img');
    expect(sha(t)).toBe(sha(tmp.path('dev2.img')));
    // As a receive of full3 killed while writing leaves it: the record names the stream and the file it was writing.
    const statePath = `${t}.dmthin-state`;
    const state = JSON.parse(readFileSync(statePath, 'utf8'));
    const identity = createHash('sha256').update('x').digest('hex');
    const full3 = execFileSync(process.execPath, [cliPath, 'receive', '-i', tmp.path('full3.stream'), '-o', tmp.path('probe.img'), '--json'], {
      encoding: 'utf8',
    });
    const id3 = JSON.parse(full3).identity as string;
    expect(id3).not.toBe(identity);
    const partial = tmp.path('.k.img.dmthin-partial-999999');
    writeFileSync(partial, 'half written');
    writeFileSync(statePath, JSON.stringify({ ...state, applying: { identity: id3, base_identity: null, partial } }));
    expect(receive('-i', tmp.path('inc3.stream'), '-o', t)).toMatchObject({ code: 1, stderr: expect.stringMatching(/half way through applying stream/) });
    expect(sha(t)).toBe(sha(tmp.path('dev2.img')));
    const r = spawnSync(process.execPath, [cliPath, 'receive', '-i', tmp.path('full3.stream'), '-o', t, '--json'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).resumed).toBe(true);
    expect(sha(t)).toBe(sha(tmp.path('dev3.img')));
    expect(readdirSync(tmp.dir).filter((n) => n.includes('dmthin-partial'))).toEqual([]);
    expect(JSON.parse(readFileSync(statePath, 'utf8'))).toMatchObject({ identity: id3, device_id: 3 });
    expect(JSON.parse(readFileSync(statePath, 'utf8')).applying).toBeUndefined();
  });
});

describe('the library refuses what the CLI cannot be given', () => {
  it('an empty target or state path', async () => {
    const { receive: lib } = await import('../../src/stream/receive.js');
    await expect(lib(tmp.path('full2.stream'), '')).rejects.toThrow(/one is empty/);
    await expect(lib(tmp.path('full2.stream'), tmp.path('y.img'), { state: '' })).rejects.toThrow(/one is empty/);
  });
});

describe('a receive that fails part way', () => {
  it('says the target is part way through the stream, and the same stream finishes it', () => {
    // A file size limit half way into the device: the incremental's first records land, a later one fails with EFBIG.
    const t = tmp.path('partway.img');
    expect(receive('-i', tmp.path('full2.stream'), '-o', t).code).toBe(0);
    const limited = spawnSync('prlimit', [`--fsize=${SIZE / 2}`, process.execPath, cliPath, 'receive', '-i', tmp.path('inc3.stream'), '-o', t], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(limited.status).toBe(1);
    expect(limited.stderr.trim().split('\n')).toHaveLength(1);
    expect(limited.stderr).toMatch(
      new RegExp(`cannot write ${t}: .*; ${t} is part way through this stream: once the cause is mended, give the same stream again to finish it\\n$`),
    );
    expect(sha(t)).not.toBe(sha(tmp.path('dev2.img')));
    expect(receive('-i', tmp.path('inc3.stream'), '-o', t).code).toBe(0);
    expect(sha(t)).toBe(sha(tmp.path('dev3.img')));
  });
});
