/**
 * One stream fuzz case: a stream dmthin send made, changed as a seed says
 * (a header or record field set to an edge value, a bit flipped, cut or
 * extended at or near a record boundary, records dropped, repeated,
 * swapped or spliced from another stream; sealed again or not), received
 * through the real CLI into a new target, the previous target (holding
 * thin 2, with its state record) or a foreign file, from a file or from
 * standard input. Judged by stream-model.ts: exit 0 exactly when the
 * stream is valid for that target and the target then holds the bytes it
 * says; otherwise exit 1 or 2 with every file in the directory
 * byte-identical and nothing left behind; always one line on stderr, no
 * engine message or stack trace, within the time and memory caps.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Part, seal, splitStream, withField } from '../stream/stream-bytes.js';
import { type ModelStream, expectedBytes, judgeStream } from './stream-model.js';
import { prng as rng } from '../bench/pool-generator.js';

export interface StreamFixtures {
  /** Streams by name: full2, full3, inc3 (since 2), inc3from1. */
  streams: Record<string, Uint8Array>;
  /** The previous target: thin 2's bytes, and its state record as receive wrote it. */
  dev2: Uint8Array;
  state2: string;
  cli: string;
}

export interface StreamCaseResult {
  label: string;
  kind: string;
  target: string;
  applied: boolean;
  failures: string[];
  ms: number;
  rssKb: number;
}

export const TIME_CAP_MS = 15_000;
export const RSS_CAP_KB = 300 << 10;
const HAS_TIME = existsSync('/usr/bin/time');

const EDGES = [
  0n,
  1n,
  2n,
  511n,
  512n,
  4096n,
  65535n,
  65536n,
  65537n,
  131072n,
  1n << 20n,
  (1n << 20n) + 65536n,
  16n * 65536n,
  15n * 65536n,
  17n * 65536n,
  1n << 30n,
  (1n << 31n) - 1n,
  (1n << 32n) - 1n,
  1n << 32n,
  1n << 40n,
  1n << 44n,
  (1n << 44n) - 65536n,
  (1n << 53n) - 1n,
  (1n << 53n) - 65536n,
  1n << 53n,
  1n << 63n,
  (1n << 64n) - 1n,
];

/** [offset, size] of each number field, by part type. */
const FIELDS: Record<string, [number, 4 | 8][]> = {
  header: [
    [16, 4],
    [20, 4],
    [24, 4],
    [28, 4],
    [32, 8],
    [72, 4],
    [76, 4],
    [144, 8],
    [244, 8],
  ],
  data: [
    [1, 8],
    [9, 4],
  ],
  zero: [
    [1, 8],
    [9, 8],
  ],
  end: [
    [1, 8],
    [9, 8],
    [17, 8],
    [25, 4],
  ],
};

const pick = <T>(r: () => number, a: readonly T[]): T => a[Math.floor(r() * a.length)];
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const ENGINE =
  /internal error|Cannot read prop|Invalid typed array|out of range|Maximum call stack|Invalid time value|is not a function|undefined|NaN|RangeError|TypeError|FATAL ERROR|heap out of memory|\n\s+at /;

/** The stream the case receives, and what was done to it. */
function makeStream(fx: StreamFixtures, r: () => number): { name: string; kind: string; bytes: Uint8Array } {
  const name = pick(r, ['full2', 'full3', 'inc3', 'inc3', 'inc3from1']);
  const src = fx.streams[name];
  const parts: Part[] = splitStream(src);
  const roll = r();
  const value = (old: bigint): bigint => {
    const k = r();
    if (k < 0.6) return pick(r, EDGES);
    if (k < 0.75) return old + 1n;
    if (k < 0.85) return old > 0n ? old - 1n : 0n;
    if (k < 0.9) return old * 2n;
    return BigInt(Math.floor(r() * 2 ** 32)) * BigInt(Math.floor(r() * 2 ** 21));
  };
  if (roll < 0.08) return { name, kind: 'unchanged', bytes: src };
  if (roll < 0.5) {
    // A field set, the stream sealed again so that the check behind the CRCs sees it (mostly).
    const i = Math.floor(r() * parts.length);
    const p = parts[i];
    const [at, size] = pick(r, FIELDS[p.type]);
    const old =
      size === 4
        ? BigInt(new DataView(p.bytes.buffer, p.bytes.byteOffset).getUint32(at, true))
        : new DataView(p.bytes.buffer, p.bytes.byteOffset).getBigUint64(at, true);
    parts[i] = { ...p, bytes: withField(p.bytes, at, size, value(old)) };
    const sealed = r() < 0.85;
    return {
      name,
      kind: `field ${p.type}@${at}${sealed ? '' : ' unsealed'}`,
      bytes: seal(parts, { crcs: sealed, totals: sealed && p.type !== 'end', checksum: sealed && !(p.type === 'end' && at === 25) }),
    };
  }
  if (roll < 0.58) {
    // An identity or the pool set to another stream's or to random bytes, sealed.
    const h = parts[0].bytes.slice();
    const at = pick(r, [40, 80, 112]);
    const other = fx.streams[pick(r, Object.keys(fx.streams))];
    h.set(r() < 0.6 ? other.subarray(pick(r, [40, 80, 112]), pick(r, [40, 80, 112]) + 32) : Uint8Array.from({ length: 32 }, () => Math.floor(r() * 256)), at);
    parts[0] = { type: 'header', bytes: h };
    return { name, kind: `identity@${at}`, bytes: seal(parts) };
  }
  if (roll < 0.66) {
    // A byte of a data record's payload changed and sealed: a valid stream of other bytes.
    const datas = parts.map((p, i) => [p, i] as const).filter(([p]) => p.type === 'data');
    if (datas.length > 0) {
      const [p, i] = pick(r, datas);
      const b = p.bytes.slice();
      b[13 + Math.floor(r() * (b.length - 17))] ^= 1 + Math.floor(r() * 255);
      parts[i] = { type: 'data', bytes: b };
      return { name, kind: 'payload sealed', bytes: seal(parts) };
    }
  }
  if (roll < 0.74) {
    const b = src.slice();
    const at = Math.floor(r() * b.length);
    b[at] ^= 1 << Math.floor(r() * 8);
    return { name, kind: 'bit flip', bytes: b };
  }
  if (roll < 0.84) {
    // Cut at a record boundary, a few bytes either side of one, or anywhere.
    const bounds: number[] = [];
    let at = 0;
    for (const p of parts) bounds.push((at += p.bytes.length));
    const k = r();
    const cut =
      k < 0.4 ? pick(r, [0, ...bounds.slice(0, -1)]) : k < 0.8 ? Math.max(0, pick(r, bounds) + Math.floor(r() * 9) - 4) : Math.floor(r() * src.length);
    return { name, kind: 'truncated', bytes: src.subarray(0, Math.min(cut, src.length - 1)) };
  }
  if (roll < 0.9) {
    const extra = Uint8Array.from({ length: 1 + Math.floor(r() * 64) }, () => (r() < 0.5 ? 0 : Math.floor(r() * 256)));
    return { name, kind: 'extended', bytes: Buffer.concat([src, extra]) };
  }
  // Records dropped, repeated, swapped, or a header from another stream; sealed.
  const recs = parts.slice(1, -1);
  const op = pick(r, ['drop', 'repeat', 'swap', 'splice', 'empty']);
  if (op === 'drop' && recs.length > 0) recs.splice(Math.floor(r() * recs.length), 1);
  else if (op === 'repeat' && recs.length > 0) {
    const i = Math.floor(r() * recs.length);
    recs.splice(i, 0, recs[i]);
  } else if (op === 'swap' && recs.length > 1) {
    const i = Math.floor(r() * (recs.length - 1));
    [recs[i], recs[i + 1]] = [recs[i + 1], recs[i]];
  } else if (op === 'empty') recs.length = 0;
  const header = op === 'splice' ? splitStream(fx.streams[pick(r, Object.keys(fx.streams))])[0] : parts[0];
  return { name, kind: `records ${op}`, bytes: seal([header, ...recs, parts[parts.length - 1]]) };
}

/** Files the fuzzer makes are small; an applied target may be a sparse file of terabytes (its bytes are checked by checkApplied). */
const HASHED = 64 << 20;

/** Every file of `dir` with its hash (a large file by its size, a FIFO or other non-file by kind). */
function listing(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    const size = e.isFile() ? statSync(path).size : 0;
    out[e.name] = !e.isFile() ? 'not a file' : size > HASHED ? `${size} bytes` : sha(readFileSync(path));
  }
  return out;
}

function readAt(path: string, off: number, len: number): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const b = new Uint8Array(len);
    let got = 0;
    while (got < len) {
      const k = readSync(fd, b, got, len - got, off + got);
      if (k <= 0) break;
      got += k;
    }
    return b;
  } finally {
    closeSync(fd);
  }
}

const WINDOW = 4 << 20;

/** What is wrong with the applied target, or undefined. */
function checkApplied(m: ModelStream, target: string, base: Uint8Array | undefined): string | undefined {
  const st = statSync(target);
  if (st.size !== m.virtualSize) return `target is ${st.size} bytes, the stream's device ${m.virtualSize}`;
  const { head, outside } = expectedBytes(m, base, WINDOW);
  if (sha(readAt(target, 0, head.length)) !== sha(head)) return 'target bytes differ from what the stream says (first 4 MiB)';
  for (const rec of outside) {
    if (sha(readAt(target, rec.first * m.blockSize, rec.data.length)) !== sha(rec.data)) return `target bytes differ at block ${rec.first}`;
  }
  // Nothing written where the stream has nothing: allocation no more than what it holds, with room for extent blocks.
  const held = head.length + outside.reduce((n, rec) => n + rec.data.length, 0);
  if (st.blocks * 512 > held + (1 << 20)) return `target allocates ${st.blocks * 512} bytes; the stream holds ${held}`;
  return undefined;
}

export function runStreamCase(fx: StreamFixtures, seed: number, dir: string): StreamCaseResult {
  const r = rng(seed);
  const s = makeStream(fx, r);
  const targetKind = pick(r, ['new', 'previous', 'previous', 'foreign']);
  const viaStdin = r() < 0.25;
  const label = `seed ${seed}: ${s.name}, ${s.kind}, into a ${targetKind} target${viaStdin ? ', from standard input' : ''}`;
  const failures: string[] = [];
  const fail = (why: string): void => {
    failures.push(`${label}: ${why}`);
  };
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const streamPath = join(dir, 'case.stream');
  const target = join(dir, 'target.img');
  const statePath = `${target}.dmthin-state`;
  writeFileSync(streamPath, s.bytes);
  writeFileSync(join(dir, 'bystander'), `seed ${seed}`);
  if (targetKind === 'previous') {
    writeFileSync(target, fx.dev2);
    writeFileSync(statePath, fx.state2);
  } else if (targetKind === 'foreign')
    writeFileSync(
      target,
      Uint8Array.from({ length: 70000 }, (_, i) => (i * 31 + seed) & 255),
    );
  const before = listing(dir);
  const verdict = judgeStream(s.bytes);
  const state2 = JSON.parse(fx.state2) as { identity: string; block_size: number };
  let admitted = false;
  if (verdict.ok) {
    const m = verdict.stream;
    if (!m.incremental) admitted = targetKind !== 'foreign';
    else admitted = targetKind === 'previous' && m.baseIdentity === state2.identity && m.blockSize === state2.block_size;
  }
  const rssFile = join(dir, '..', `rss-${seed}`);
  const node = [process.execPath, '--max-old-space-size=256', fx.cli, 'receive', '-i', viaStdin ? '-' : streamPath, '-o', target];
  const t0 = Date.now();
  const run = HAS_TIME
    ? spawnSync('/usr/bin/time', ['-f', '%M', '-o', rssFile, 'timeout', '-s', 'KILL', String(TIME_CAP_MS / 1000 + 5), ...node], {
        input: viaStdin ? s.bytes : undefined,
        encoding: 'utf8',
        maxBuffer: 1 << 20,
      })
    : spawnSync(node[0], node.slice(1), { input: viaStdin ? s.bytes : undefined, encoding: 'utf8', timeout: TIME_CAP_MS + 5000, killSignal: 'SIGKILL' });
  const ms = Date.now() - t0;
  let rssKb = 0;
  if (HAS_TIME) {
    try {
      const lines = readFileSync(rssFile, 'utf8').trim().split('\n');
      rssKb = Number(lines[lines.length - 1]);
      rmSync(rssFile);
    } catch {
      // No report: judged by the exit code below.
    }
  }
  const code = run.status;
  const stderr = run.stderr ?? '';
  if (ms > TIME_CAP_MS) fail(`took ${ms} ms (cap ${TIME_CAP_MS})`);
  if (rssKb > RSS_CAP_KB) fail(`max RSS ${rssKb} KiB (cap ${RSS_CAP_KB})`);
  if (code !== 0 && code !== 1 && code !== 2) fail(`exit ${code ?? run.signal} (killed, or a crash): ${stderr.slice(0, 300)}`);
  if (!/^[^\n]+\n$/.test(stderr)) fail(`stderr is not one line: ${JSON.stringify(stderr.slice(0, 300))}`);
  if (ENGINE.test(stderr)) fail(`an engine message or internal error: ${stderr.trim().slice(0, 300)}`);
  // A header so large the filesystem refuses the file: a right refusal, nothing changed.
  const noRoom = code === 1 && /has no room for a file of \d+ bytes/.test(stderr) && verdict.ok && verdict.stream.virtualSize >= 2 ** 40;
  const shouldApply = verdict.ok && admitted;
  if (shouldApply && code !== 0 && !noRoom) fail(`refused a stream valid for this target: ${stderr.trim()}`);
  if (!shouldApply && code === 0) fail(`applied a stream the model refuses (${verdict.ok ? 'not admissible to this target' : verdict.why})`);
  if (code === 0 && verdict.ok) {
    const bad = checkApplied(verdict.stream, target, targetKind === 'previous' ? fx.dev2 : undefined);
    if (bad) fail(bad);
    try {
      const st = JSON.parse(readFileSync(statePath, 'utf8')) as { identity: string; applying?: unknown };
      if (st.identity !== verdict.stream.identity || st.applying !== undefined) fail('the state record does not say the target holds the stream');
    } catch (e) {
      fail(`no state record after success: ${(e as Error).message}`);
    }
    const after = listing(dir);
    for (const n of Object.keys(after)) if (!(n in before) && n !== 'target.img' && n !== 'target.img.dmthin-state') fail(`left ${n} behind`);
    if (after['case.stream'] !== before['case.stream'] || after.bystander !== before.bystander) fail('the stream or a bystander changed');
  } else if (code !== 0) {
    const after = listing(dir);
    if (JSON.stringify(after) !== JSON.stringify(before)) fail(`files changed by a refused receive: ${JSON.stringify(before)} -> ${JSON.stringify(after)}`);
    // A defect of the stream is named where it is: the stream, the byte.
    const name = viaStdin ? 'standard input' : streamPath;
    if (!verdict.ok && !stderr.includes(`${name}, byte `)) fail(`refused (${verdict.why}) without naming the stream and byte: ${stderr.trim()}`);
  }
  return { label, kind: s.kind.replace(/@\d+/, '').replace(/ (unsealed)$/, ''), target: targetKind, applied: code === 0, failures, ms, rssKb };
}
