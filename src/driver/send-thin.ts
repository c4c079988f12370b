/**
 * A thin device of an active pool sent as a stream: `dmthin send POOL ID`,
 * and `dmthin lvm send` of a pool the kernel runs from the images (lvm/
 * send-lv.ts: planLvSend names it). The pool's metadata changes as the
 * kernel runs, so it is read at a metadata snapshot this process reserves
 * and always releases (Pool.withOwnMetadataSnap); a device active and
 * writable is refused, its blocks could change while they are read.
 *
 * Why the read runs in a child process: the send (stream/send.ts) reads
 * the devices synchronously, for as long as the device is large. In this
 * process that would leave no moment to hear SIGTERM or SIGHUP: the snapshot
 * would stay held until the read ended, or for ever if the process were
 * then killed outright. So the child, dmthin itself, does the offline send
 * on the pool's devices at the held root (its hidden --metadata-snap-at),
 * and reports what it sent as the live send (--report-as); this process
 * passes SIGTERM and SIGHUP on to it (SIGINT from a terminal reaches it
 * anyway), holds its own signals back while the snapshot is held, and
 * releases the snapshot when the child exits, however it exits. A child
 * killed before it committed its output leaves a partial file, removed
 * here. The child shares this process's standard streams: the stream (with
 * -o -), its report and any error are its own.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../errors.js';
import { removePartial } from '../io/output-file.js';
import { Pool } from './pool.js';

export interface LiveSendOptions {
  /** An earlier snapshot of the same origin that the receiver holds: only what changed since. */
  base?: number;
  /** The device's size in bytes (default: the active device's size, else up to the highest block either device maps). */
  size?: number;
  /** Stream file (written beside, renamed when complete), or - for standard output. */
  output: string;
  /** The child reports as one JSON object (on stderr with - as output). */
  json?: boolean;
  /** For `lvm send`: the LVs by name, for the report. */
  names?: { lv: string; baseLv: string | null };
  /** The dmthin program the child runs (default: dist/dmthin.cjs beside this library). */
  dmthin?: string;
}

/** What the child is told to add to its report (`send --report-as`): the pool it read, and for lvm send the LVs by name. */
export interface LiveReport {
  livePool: string;
  lv?: string;
  baseLv?: string | null;
}

/** Sends thin `thinId` of active pool `poolName`; resolves with the exit status of the child that read it (0 sent). */
export async function sendThinLive(poolName: string, thinId: number, o: LiveSendOptions): Promise<number> {
  const pool = await Pool.open(poolName);
  const active = await pool.refuseWritable(thinId, `snapshot it (dmthin snap create ${poolName} NEW_ID ${thinId}) and send the snapshot, or deactivate it`);
  const size = o.size ?? (active ? active.sectors * 512 : undefined);
  const dmthin = o.dmthin ?? dmthinProgram();
  return pool.withOwnMetadataSnap(async (metadata, root) => {
    const r = await runChild(dmthin, [
      'send',
      '--metadata',
      metadata,
      '--metadata-snap-at',
      String(root),
      '--data',
      pool.dataDevice,
      '--dev-id',
      String(thinId),
      ...(o.base !== undefined ? ['--base', String(o.base)] : []),
      ...(size !== undefined ? ['--size', String(size)] : []),
      '-o',
      o.output,
      '--report-as',
      JSON.stringify({ livePool: poolName, ...o.names } satisfies LiveReport),
      ...(o.json ? ['--json'] : []),
    ]);
    // Killed before it could commit: what it wrote of the stream goes too.
    if (r.signal) removePartial(o.output, r.pid);
    return r.code;
  });
}

/**
 * dist/dmthin.cjs: beside the bundle (the CLI), two levels up from the
 * compiled library (dist/src/driver/), or in dist/ from the sources (tests).
 */
function dmthinProgram(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const found = [join(here, 'dmthin.cjs'), join(here, '..', '..', 'dmthin.cjs'), join(here, '..', '..', 'dist', 'dmthin.cjs')].find((p) => existsSync(p));
  if (!found) throw new UsageError(`a live send runs dmthin's send in a child, and no dmthin.cjs is found from ${here}: build dmthin (npm run build)`);
  return found;
}

/**
 * Runs `program` (dmthin) with `args` under this Node in a child sharing our
 * standard streams; resolves with its exit status, a signal's as a shell
 * gives it (128 + its number). SIGTERM and SIGHUP are passed on.
 */
function runChild(program: string, args: readonly string[]): Promise<{ code: number; pid: number; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, program, ...args], { stdio: 'inherit' });
    const pass = (sig: NodeJS.Signals): void => {
      child.kill(sig);
    };
    process.on('SIGTERM', pass).on('SIGHUP', pass);
    const done = (): void => {
      process.off('SIGTERM', pass).off('SIGHUP', pass);
    };
    child.on('error', (e) => {
      done();
      reject(e);
    });
    child.on('exit', (code, sig) => {
      done();
      resolve({ code: code ?? 128 + (sig ? (osConstants.signals[sig] ?? 1) : 1), pid: child.pid ?? 0, signal: sig });
    });
  });
}
