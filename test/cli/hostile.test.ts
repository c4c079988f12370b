/**
 * Mistaken and hostile invocations of every command that writes: none may
 * harm an input or an existing file, none may exit 0, none may print a
 * stack trace or Node's internals, and each says in one line what is wrong.
 * The same cases, with what thin-provisioning-tools does, are the table in
 * docs/safety.md.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { metadataBytesFor, writePoolXml } from '../bench/pool-generator.js';
import { linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync, copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { cliPath, dmthin } from '../support/cli.js';
import { emptyFile, projectRoot, type Run, scratch, xzDecompress } from '../support/env.js';

const tmp = scratch('dmthin-hostile-');
afterAll(() => tmp.cleanup());

let M = ''; // metadata (kernel-made, Docker fixture)
let D = ''; // its data file
let X = ''; // an XML dump of M
let P = ''; // a pack of M
let E = ''; // existing valid metadata, a restore/repair target

const digest = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');

beforeAll(() => {
  M = tmp.path('meta');
  D = tmp.path('data');
  xzDecompress(join(projectRoot, 'fixtures/docker/metadata.xz'), M);
  xzDecompress(join(projectRoot, 'fixtures/docker/data.xz'), D);
  X = tmp.path('pool.xml');
  expect(dmthin('dump', M, '-o', X).code).toBe(0);
  P = tmp.path('meta.pack');
  expect(dmthin('metadata', 'pack', '-i', M, '-o', P).code).toBe(0);
  E = tmp.path('existing.meta');
  copyFileSync(M, E);
});

/** Runs dmthin and checks: exit code, one clear line, the files named unchanged, no temporary file left. */
function refused(args: string[], code: number, message: RegExp, unchanged: string[]): Run {
  const before = unchanged.map((f) => (existsSync(f) ? digest(f) : 'absent'));
  const r = dmthin(...args);
  expect(r.code, `${args.join(' ')}\n${r.stderr}`).toBe(code);
  expect(r.stderr).toMatch(message);
  expect(r.stderr).not.toMatch(/\n\s+at |node:|ERR_|RangeError|TypeError|The value of|Invalid typed array|\(node:\d+\)/);
  expect(r.stderr.trim().split('\n').length, r.stderr).toBeLessThanOrEqual(2); // the line, maybe "(run with --help for usage)"
  for (const [i, f] of unchanged.entries()) expect(existsSync(f) ? digest(f) : 'absent', `${f} changed by ${args.join(' ')}`).toBe(before[i]);
  expect(
    readdirSync(tmp.dir).filter((f) => f.includes('.dmthin-')),
    'a temporary file was left',
  ).toEqual([]);
  return r;
}

describe('an output that is an input is refused before anything is opened for writing', () => {
  it('export over its data, a symlink to it, or its metadata', () => {
    const link = tmp.path('data-link');
    symlinkSync(D, link);
    for (const out of [D, link, M]) {
      refused(['export', '--metadata', M, '--data', D, '--dev-id', '3', '-o', out], 2, /is an input/, [M, D]);
    }
  });
  it('dump, dump --repair, report, pack and unpack over what they read', () => {
    refused(['dump', M, '-o', M], 2, /is an input/, [M]);
    refused(['dump', '--repair', M, '-o', M], 2, /is an input/, [M]);
    refused(['report', M, '-o', M], 2, /is an input/, [M]);
    refused(['metadata', 'pack', '-i', M, '-o', M], 2, /is an input/, [M]);
    refused(['metadata', 'unpack', '-i', P, '-o', P], 2, /is an input/, [P]);
    refused(['restore', '-i', X, '-o', X], 2, /is an input/, [X]);
  });
  it('a hard link to the input is the input', () => {
    const hard = tmp.path('meta-hardlink');
    linkSync(M, hard);
    refused(['repair', '-i', M, '-o', hard], 2, /are the same file/, [M]);
    refused(['dump', M, '-o', hard], 2, /are the same file/, [M]);
    refused(['metadata', 'pack', '-i', hard, '-o', M], 2, /are the same file/, [M]);
  });
});

describe('restore and repair write nothing until the whole input has been read and checked', () => {
  it('restore leaves an existing output byte-identical whatever is wrong with its input', () => {
    mkdirSync(tmp.path('a-dir'), { recursive: true });
    refused(['restore', '-i', tmp.path('missing.xml'), '-o', E], 1, /cannot read XML input .*missing\.xml: no such file/, [E]);
    refused(['restore', '-i', tmp.path('a-dir'), '-o', E], 1, /is a directory/, [E]);
    refused(['restore', '-i', M, '-o', E], 1, /is not XML but binary data/, [E]);
    const badValue = tmp.path('bad-value.xml');
    writeFileSync(badValue, readFileSync(X, 'utf8').replace(/data_block_size="\d+"/, 'data_block_size="100"'));
    refused(['restore', '-i', badValue, '-o', E], 1, /data_block_size 100/, [E]);
    const lateError = tmp.path('late-error.xml');
    writeFileSync(
      lateError,
      readFileSync(X, 'utf8').replace(
        /<\/superblock>/,
        '<device dev_id="1" mapped_blocks="0" transaction="0" creation_time="0" snap_time="0">\n</device>\n</superblock>',
      ),
    );
    refused(['restore', '-i', lateError, '-o', E], 1, /thin device 1 appears twice/, [E]);
  });
  it('an output too small is found before anything is written', () => {
    const small = tmp.path('small.meta');
    copyFileSync(M, small);
    execFileSync('truncate', ['-s', '32K', small]);
    refused(['restore', '-i', X, '-o', small], 1, /too small/, [small]);
    refused(['repair', '-i', M, '-o', small], 1, /too small/, [small]);
  });
  it('a missing or unusable output is named', () => {
    refused(['restore', '-i', X, '-o', tmp.path('nope.meta')], 1, /nope\.meta does not exist: create it/, []);
    refused(['restore', '-i', X, '-o', tmp.path('a-dir')], 1, /is a directory/, []);
  });
  it('nr_data_blocks beyond what the output can map is refused in words', () => {
    const huge = tmp.path('huge.xml');
    writeFileSync(huge, readFileSync(X, 'utf8').replace(/nr_data_blocks="\d+"/, 'nr_data_blocks="1099511627776"'));
    refused(['restore', '-i', huge, '-o', E], 1, /too small for nr_data_blocks 1099511627776/, [E]);
  });
  it('a wrong mapped_blocks is a one-line warning, not a Node warning', () => {
    const off = tmp.path('off.xml');
    writeFileSync(
      off,
      readFileSync(X, 'utf8').replace(/mapped_blocks="(\d+)"/, (_m, n: string) => `mapped_blocks="${Number(n) + 5}"`),
    );
    const out = tmp.path('off.meta');
    copyFileSync(M, out);
    const r = dmthin('restore', '-i', off, '-o', out);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^dmthin: warning: thin device \d+: mapped_blocks="\d+" but \d+ mappings follow; wrote \d+$/m);
    expect(r.stderr).not.toMatch(/\(node:/);
  });
});

describe('a failed write leaves existing files as they were and new ones absent', () => {
  it('send with a malformed internal --report-as (what a live send passes its child)', () => {
    const existing = tmp.path('existing.stream');
    writeFileSync(existing, 'precious');
    refused(['send', '--metadata', M, '--data', D, '--dev-id', '1', '-o', existing, '--report-as', '{bad'], 2, /--report-as takes the JSON/, [existing]);
    refused(['send', '--metadata', M, '--data', D, '--dev-id', '1', '-o', existing, '--report-as', '[]'], 2, /--report-as takes the JSON/, [existing]);
  });
  it('export of a missing device', () => {
    const existing = tmp.path('existing.img');
    writeFileSync(existing, 'precious');
    refused(['export', '--metadata', M, '--data', D, '--dev-id', '99', '-o', existing], 1, /no thin device 99/, [existing]);
    refused(['export', '--metadata', M, '--data', D, '--dev-id', '99', '-o', tmp.path('new.img')], 1, /no thin device 99/, [tmp.path('new.img')]);
  });
  it('export from a data file that ends early', () => {
    const short = tmp.path('short-data');
    writeFileSync(short, readFileSync(D).subarray(0, 1 << 20));
    refused(['export', '--metadata', M, '--data', short, '--dev-id', '3', '-o', tmp.path('new.img')], 1, /smaller than the pool's/, [tmp.path('new.img')]);
  });
  it('dump of a missing device, report and pack of a missing input', () => {
    const xml = tmp.path('x.xml');
    writeFileSync(xml, 'precious');
    refused(['dump', '--dev-id', '99', M, '-o', xml], 1, /no thin device 99/, [xml]);
    refused(['report', tmp.path('nope'), '-o', xml], 1, /no such file/, [xml]);
    refused(['metadata', 'pack', '-i', tmp.path('nope'), '-o', xml], 1, /no such file/, [xml]);
  });
  it('unpack of a damaged pack', () => {
    const out = tmp.path('unpacked');
    writeFileSync(out, 'precious');
    const huge = Buffer.from(readFileSync(P));
    huge.writeBigUInt64LE(1n << 50n, 24);
    writeFileSync(tmp.path('huge.pack'), huge);
    refused(['metadata', 'unpack', '-i', tmp.path('huge.pack'), '-o', out], 1, /declares 1125899906842624 metadata blocks/, [out]);
    writeFileSync(tmp.path('cut.pack'), readFileSync(P).subarray(0, 100));
    refused(['metadata', 'unpack', '-i', tmp.path('cut.pack'), '-o', out], 1, /runs past the end|truncated/, [out]);
    refused(['metadata', 'unpack', '-i', P, '-o', '-'], 2, /must be a file or block device, not a stream/, [P]);
  });
  it('an output in a directory that does not exist', () => {
    refused(['dump', M, '-o', tmp.path('no/such/dir/x.xml')], 1, /its directory .*no such file/, []);
  });
  it('through a symbolic link, the file it names is replaced and the link stays', () => {
    const target = tmp.path('real.xml');
    writeFileSync(target, 'old');
    const link = tmp.path('link.xml');
    symlinkSync(target, link);
    expect(dmthin('dump', M, '-o', link).code).toBe(0);
    expect(readFileSync(target, 'utf8')).toBe(readFileSync(X, 'utf8'));
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
  });
  it('a successful write replaces an existing file and keeps its mode', () => {
    const xml = tmp.path('replaced.xml');
    writeFileSync(xml, 'old', { mode: 0o600 });
    expect(dmthin('dump', M, '-o', xml).code).toBe(0);
    expect(readFileSync(xml, 'utf8')).toBe(readFileSync(X, 'utf8'));
    expect(statSync(xml).mode & 0o777).toBe(0o600);
  });
});

describe('a command killed half-way leaves existing files as they were', () => {
  /** Starts dmthin, kills it with SIGKILL after `ms`, and says how it ended. */
  function killedAfter(ms: number, args: string[]): Promise<NodeJS.Signals | null> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [cliPath, ...args], { stdio: 'ignore' });
      const timer = setTimeout(() => child.kill('SIGKILL'), ms);
      child.on('exit', (_code, signal) => {
        clearTimeout(timer);
        resolve(signal);
      });
    });
  }
  it('restore and dump -o, killed mid-way (kill -9)', async () => {
    // Large enough that neither finishes in 400 ms (each takes seconds here).
    const xml = tmp.path('big.xml');
    const g = writePoolXml(xml, { seed: 9, origins: 2, snapshotsPerOrigin: 1, mappingsPerOrigin: 1_000_000, rewriteShare: 0.1, runLength: 1 });
    const meta = emptyFile(tmp.path('big.meta'), metadataBytesFor(g.mappings));
    expect(dmthin('restore', '-q', '-i', xml, '-o', meta).code).toBe(0);
    const before = digest(meta);
    // A different transaction id: a restore that ran to the end would change the output.
    writeFileSync(xml, readFileSync(xml, 'utf8').replace(/transaction="\d+"/, 'transaction="4242"'));
    expect(await killedAfter(400, ['restore', '-q', '-i', xml, '-o', meta])).toBe('SIGKILL');
    expect(digest(meta)).toBe(before);
    const out = tmp.path('existing.xml');
    writeFileSync(out, 'precious');
    expect(await killedAfter(400, ['dump', meta, '-o', out])).toBe('SIGKILL');
    expect(readFileSync(out, 'utf8')).toBe('precious');
    // What a kill -9 can leave: the temporary file beside it, never a damaged original.
    for (const f of readdirSync(tmp.dir).filter((x) => x.includes('.dmthin-'))) {
      expect(f).toMatch(/^\.existing\.xml\.dmthin-partial-\d+$/);
      execFileSync('rm', ['-f', join(tmp.dir, f)]);
    }
  }, 120_000);
});

describe('inputs that are not metadata are refused at once', () => {
  it('a FIFO given as metadata does not hang', () => {
    const fifo = tmp.path('fifo');
    execFileSync('mkfifo', [fifo]);
    const r = spawnSync(process.execPath, [cliPath, 'check', fifo], { encoding: 'utf8', timeout: 20_000 });
    expect(r.signal).toBeNull();
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/is a FIFO \(named pipe\): give a regular file or a block device/);
  });
  it('a character device or a directory as data', () => {
    refused(['trim', '--metadata', M, '--data', tmp.dir, '--dry-run'], 1, /data .* is a directory/, [M]);
    refused(['export', '--metadata', M, '--data', '/dev/zero', '--dev-id', '3', '-o', tmp.path('z.img')], 1, /is a character device/, []);
  });
});

describe('bad arguments exit 2 with one line, never a stack trace', () => {
  it.each([
    [['rmap', '--region', '5', 'M'], /badly formed region '5'/],
    [['rmap', '--region', '10..5', 'M'], /END must be greater than BEGIN/],
    [['rmap', '--region', '12x..20', 'M'], /badly formed region '12x..20'/],
    [['rmap', 'M'], /at least one --region/],
    [['ls', '--format', 'BOGUS', 'M'], /unknown field 'BOGUS'/],
    [['metadata-size', '-b', '64k', '-s', '1t', '-m', '12x'], /unknown unit 'x'/],
    [['export', '--metadata', 'M', '--data', 'D', '--dev-id', '3', '--size', '64q', '-o', '/dev/null'], /unknown unit 'q'/],
    [['repair', '-i', 'M', '-o', 'E', '--data-block-size', '100'], /data block size 100 sectors is not a multiple of 128/],
    [['pool', 'create', 'p', '--data', 'd', '--metadata', 'm', '--data-size', '64q', '--metadata-size', '4M', '--block-size', '64k'], /unknown unit 'q'/],
    [['dump', '--dev-id', '99999999999999999999', 'M'], /too large/],
    [['export', '--metadata', 'M', '--data', 'D', '--dev-id', '16777216', '-o', '/dev/null'], /thin id 16777216 is too large/],
  ])('%j', (args, message) => {
    const sub = (a: string): string => ({ M, D, E })[a] ?? a;
    refused(args.map(sub), 2, message, [M, E]);
  });
  it('--json turns an error into a JSON object on stderr', () => {
    const r = dmthin('ls', '--json', tmp.path('nope'));
    expect(r.code).toBe(1);
    const e = JSON.parse(r.stderr) as { error: { kind: string; message: string; exit_code: number } };
    expect(e.error).toMatchObject({ exit_code: 1 });
    expect(e.error.message).toMatch(/nope: no such file/);
    const u = dmthin('rmap', '--json', '--region', '5', M);
    expect(u.code).toBe(2);
    expect(JSON.parse(u.stderr)).toMatchObject({ error: { kind: 'usage', exit_code: 2 } });
  });
  it('dmthin alone prints its help and succeeds', () => {
    const r = dmthin();
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: dmthin /);
    expect(r.stdout).toMatch(/restore/);
  });
});
