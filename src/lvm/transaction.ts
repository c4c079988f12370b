/**
 * LVM's transaction_id for a thin pool against the pool metadata's own.
 *
 * LVM keeps the id it expects in the pool's segment and refuses to activate
 * a pool whose metadata says otherwise ("transaction_id is N, while expected
 * M"). Queued messages (lvcreate/lvremove interrupted before the kernel got
 * them) are counted already: with messages pending LVM sends them, then
 * set_transaction_id M-1 -> M (lib/thin/thin.c _thin_pool_add_target_line),
 * so the metadata should say M-1.
 *
 * The safe fix for a mismatch depends on whether the two sides still name
 * the same thin devices: if they do, only the counter differs and LVM's copy
 * may be set to the pool's; if they do not, one side lost commits, and
 * changing a number would hide that.
 */
import { UsageError } from '../errors.js';
import { printable } from './printable.js';
import type { Segment } from './vg.js';

export interface PoolAgreement {
  lvmTransactionId: number;
  /** What the metadata should say: LVM's, less one while messages are pending. */
  expected: bigint;
  metadataTransactionId: bigint;
  pendingMessages: number;
  /** Device ids LVM's thin LVs name that the pool metadata lacks. */
  lvmOnly: number[];
  /** Device ids the pool metadata has that no thin LV names. */
  poolOnly: number[];
}

export function poolAgreement(seg: Segment, thinIds: readonly number[], poolIds: readonly number[], metadataTransactionId: bigint): PoolAgreement {
  const pendingMessages = seg.messages?.length ?? 0;
  const lvm = seg.transactionId ?? 0;
  const pool = new Set(poolIds);
  const thins = new Set(thinIds);
  // A pending create names an LV whose device the pool does not have yet; a pending delete, a device no LV names.
  return {
    lvmTransactionId: lvm,
    expected: BigInt(lvm) - (pendingMessages ? 1n : 0n),
    metadataTransactionId,
    pendingMessages,
    lvmOnly: [...thins].filter((id) => !pool.has(id)).sort((a, b) => a - b),
    poolOnly: [...pool].filter((id) => !thins.has(id)).sort((a, b) => a - b),
  };
}

export const agrees = (a: PoolAgreement): boolean => a.expected === a.metadataTransactionId;
export const sameDevices = (a: PoolAgreement): boolean => a.lvmOnly.length === 0 && a.poolOnly.length === 0;

/** One line for an admin: which side is ahead, whether the device sets agree, and what is safe. */
export function mismatchAdvice(pool: string, a: PoolAgreement): string {
  const ahead = a.metadataTransactionId > a.expected ? 'the pool metadata is ahead of LVM' : 'LVM is ahead of the pool metadata';
  const head = `LVM says transaction_id ${a.lvmTransactionId}${a.pendingMessages ? ` with ${a.pendingMessages} message(s) pending (metadata should say ${a.expected})` : ''}, the pool metadata ${a.metadataTransactionId}: ${ahead}; the pool will not activate ("transaction_id is ${a.metadataTransactionId}, while expected ${a.expected}")`;
  if (a.pendingMessages) return `${head}. LVM's messages are pending: do not change either side by hand; see docs/lvm.md`;
  if (sameDevices(a)) {
    return `${head}. Both sides name the same thin devices, so only the counter differs: dmthin lvm ls IMAGE... --fix-vg-text -o FILE writes LVM's text with transaction_id ${a.metadataTransactionId} for pool ${pool}, for vgcfgrestore --force -f FILE`;
  }
  const list = (ids: number[]): string => ids.join(', ');
  return (
    `${head}. The device sets differ (${a.lvmOnly.length ? `only LVM names ${list(a.lvmOnly)}` : ''}${a.lvmOnly.length && a.poolOnly.length ? '; ' : ''}${a.poolOnly.length ? `only the pool has ${list(a.poolOnly)}` : ''}): ` +
    'one side lost commits, so editing the transaction_id would hide that; read dmthin lvm history and docs/lvm.md before changing anything'
  );
}

/**
 * LVM's VG text with pool `pool`'s transaction_id set to `tid`, and the
 * description saying so; the text is otherwise byte for byte LVM's. The
 * edit walks LVM's own layout (one statement a line, sections by name) and
 * refuses text it cannot place exactly one such line in.
 */
export function withTransactionId(text: string, vg: string, pool: string, tid: bigint): string {
  const lines = text.split('\n');
  const path: string[] = [];
  let hits = 0;
  let inPoolSegment = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const open = /^\s*([^\s{}=#]+)\s*\{\s*$/.exec(line);
    if (open) {
      path.push(open[1]);
      inPoolSegment = path.length === 4 && path[0] === vg && path[1] === 'logical_volumes' && path[2] === pool && /^segment\d+$/.test(path[3]);
      continue;
    }
    if (/^\s*\}\s*$/.test(line)) {
      path.pop();
      inPoolSegment = false;
      continue;
    }
    const m = /^(\s*transaction_id\s*=\s*)\d+(\s*)$/.exec(line);
    if (m && inPoolSegment) {
      lines[i] = `${m[1]}${tid}${m[2]}`;
      hits++;
    }
  }
  if (hits !== 1)
    throw new UsageError(`cannot place pool ${printable(vg)}/${printable(pool)}'s transaction_id in the VG text (${hits} candidate lines): not writing it`);
  const out = lines.join('\n');
  // The pool's name as LVM allows names (a name from the image may hold a quote that would end the string).
  const safe = pool.replace(/[^A-Za-z0-9+_.-]/g, '?');
  const described = out.replace(/^description = ".*"$/m, `description = "dmthin: transaction_id of ${safe} set to ${tid}, the pool metadata's"`);
  return described.endsWith('\n') ? described : `${described}\n`;
}
