/**
 * The process pool the fuzzers share (run.ts, lvm-fuzz.ts, stream-fuzz.ts):
 * the parent forks worker processes of the same script and hands each a
 * small batch of seeds whenever it asks, so every worker stays busy to the
 * end; results come back one message a case, and a progress line is due
 * at most every ten seconds.
 */
import { fork } from 'node:child_process';

/** Seeds first..first+total-1 in batches of `size`. */
export function seedBatches(first: number, total: number, size: number): number[][] {
  const out: number[][] = [];
  for (let s = first; s < first + total; s += size) out.push(Array.from({ length: Math.min(size, first + total - s) }, (_, i) => s + i));
  return out;
}

/**
 * Parent side: `jobs` workers (`script --worker ...args`) over `queue`;
 * every message but 'next' is a result for `onResult`; `onProgress` runs
 * at most every ten seconds. Rejects when a worker dies.
 */
export async function runWorkers<J, R>(
  script: string,
  args: readonly string[],
  jobs: number,
  queue: J[],
  onResult: (r: R) => void,
  onProgress: () => void,
): Promise<void> {
  let lastReport = 0;
  await Promise.all(
    Array.from({ length: jobs }, () => {
      const child = fork(script, ['--worker', ...args], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      return new Promise<void>((resolve, reject) => {
        child.on('message', (m: 'next' | R) => {
          if (m === 'next') {
            child.send((queue.shift() ?? 'done') as object | string);
            return;
          }
          onResult(m);
          if (Date.now() - lastReport > 10_000) {
            lastReport = Date.now();
            onProgress();
          }
        });
        child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`a fuzz worker (${script}) exited with ${code}`))));
      });
    }),
  );
}

/**
 * Worker side: each job the parent sends goes to `handle` (which sends its
 * results with process.send), then the next is asked for; `done` ends the
 * process after `cleanup`.
 */
export function serveJobs<J>(handle: (job: J) => void, cleanup: () => void = () => {}): void {
  process.on('message', (job: J | 'done') => {
    if (job === 'done') {
      cleanup();
      process.exit(0);
    }
    handle(job);
    toParent('next');
  });
  toParent('next');
}

/** Sends `message` to the parent: a worker always has the channel fork opened. */
export function toParent(message: unknown): void {
  if (!process.send) throw new Error('not a forked worker: no channel to the parent');
  process.send(message);
}
