/**
 * `dmthin receive --pool POOL --thin-id ID`: a stream applied to a thin
 * device of an active pool, so that a pool can be replicated into another.
 * The stream is verified whole before the kernel is touched. The state
 * record (there is no file beside a thin device to keep it in: --state)
 * says whether dmthin made the device: without one, a full stream creates
 * it (create_thin; an id in use is refused by the kernel); with one, the
 * device is the one its last receive wrote. It is activated under a
 * temporary dm name for the writes and always deactivated after; discarded
 * runs become discards, read back. A device created here is deleted again
 * when the receive fails before its first write. Snapshot the device after
 * each receive to keep each state (docs/backup.md).
 */
import { dirname } from 'node:path';
import { ArgumentError, UsageError } from '../errors.js';
import { refuseInputAsOutput } from '../io/files.js';
import { type ReceiveResult, admit, applyStream, openStream, readState } from '../stream/receive.js';
import { Pool, validateThinId } from './pool.js';

export interface ReceiveThinOptions {
  pool: string;
  thinId: number;
  state: string;
}

export async function receiveIntoThin(streamPath: string, o: ReceiveThinOptions): Promise<ReceiveResult> {
  validateThinId(o.thinId);
  if (!o.state) throw new ArgumentError('a thin device target needs --state FILE (where its last received state is kept)');
  refuseInputAsOutput(o.state, [streamPath]);
  const pool = await Pool.open(o.pool);
  const label = `thin ${o.thinId} of pool ${o.pool}`;
  const v = await openStream(streamPath, dirname(o.state), label);
  try {
    const active = (await pool.activeThins()).filter((t) => t.id === o.thinId);
    if (active.length > 0) {
      throw new UsageError(`${label} is active as ${active.map((t) => `/dev/mapper/${t.name}`).join(', ')}: deactivate it first (a receive writes it)`);
    }
    const made = readState(o.state) !== undefined;
    admit(v, label, o.state, made);
    const sectors = v.header.virtualSize / 512;
    const dmName = `dmthin-receive-${process.pid}`;
    let dev: string;
    if (made) {
      try {
        dev = await pool.activateThin(o.thinId, sectors, dmName);
      } catch (e) {
        throw new UsageError(`${label} cannot be activated (${(e as Error).message}): was it deleted? ${o.state} says dmthin received into it`);
      }
    } else {
      try {
        dev = await pool.createAndActivateThin(o.thinId, sectors, dmName);
      } catch (e) {
        throw new UsageError(
          `${label} cannot be created (${(e as Error).message}): an id in use is refused; give a free id, or the state record of the receive that made it`,
        );
      }
    }
    let failure: unknown;
    try {
      const r = await applyStream(v, dev, { state: o.state, label, asDevice: true });
      return { ...r, target: label };
    } catch (e) {
      failure = e;
      throw e;
    } finally {
      await Pool.deactivateThin(dmName).catch((e: Error) => {
        throw new UsageError(`${label}: ${dmName} could not be removed (${e.message}): remove it with dmsetup remove ${dmName}`);
      });
      // Created here and never written (no state record names it): not left behind.
      if (failure && !made && readState(o.state) === undefined) await pool.deleteThin(o.thinId);
    }
  } finally {
    v.close();
  }
}
