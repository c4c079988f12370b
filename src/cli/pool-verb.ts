/**
 * How a thin verb's answer is printed whatever the pool source: the verb's
 * action runs on the source (closed after), preceded by a warning when the
 * kernel runs the pool and the metadata is read in place, and followed by
 * a failure line when the pool's data is not all there (the answer came
 * from the metadata only: exit 1). Damaged metadata that stops the verb
 * fails in one line naming the command that diagnoses it.
 */
import type { PoolSource } from '../thin/pool-source.js';
import { withDamageAdvice } from '../thin/damage.js';
import { reportError } from './run.js';

export function withPoolSource(source: PoolSource, use: (source: PoolSource) => number): number {
  try {
    if (source.running && source.metadataSnap === undefined) {
      process.stderr.write(
        `dmthin: warning: the kernel runs ${source.name} from these disks (${source.running}): its metadata is read as last committed and may change while it is read; dmthin pool dump ${source.running} reads it at a metadata snapshot\n`,
      );
    }
    // Damaged metadata met on the way: one line naming the pool's doctor.
    const code = withDamageAdvice(source, () => use(source));
    if (!source.dataProblem) return code;
    // The metadata was read whole; the pool is not all there: a partial answer, said so and exit 1.
    reportError(`${source.dataProblem}: what is above was read from the pool's metadata only`, 'unreadable_pool_data', 1);
    return Math.max(code, 1);
  } finally {
    source.close();
  }
}
