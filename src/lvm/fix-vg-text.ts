/**
 * `dmthin lvm ls --fix-vg-text`: LVM's VG text with each mismatched pool's
 * transaction_id set to what its metadata says, for `vgcfgrestore --force
 * -f`, written only when nothing but the counter differs (transaction.ts).
 * The edited text is parsed again and must model the very same VG but for
 * those numbers, or nothing is written.
 */
import { ArgumentError, UsageError, must } from '../errors.js';
import { type ConfigSection, ConfigSyntaxError, parseConfigText } from './config-text.js';
import { type ImageSet, imagePaths } from './images.js';
import { collectInventory } from './inventory.js';
import { printable } from './printable.js';
import { agrees, mismatchAdvice, sameDevices, withTransactionId } from './transaction.js';
import { type VolumeGroup, volumeGroup } from './vg.js';

export interface VgTextFix {
  vg: string;
  text: string;
  pools: Array<{ pool: string; from: number; to: bigint }>;
}

export function fixVgText(images: ImageSet): VgTextFix {
  const { inventory, pools } = collectInventory(images);
  const wrong = pools.filter((p) => !agrees(p.agreement));
  if (wrong.length === 0) {
    // A pool whose metadata could not be read may well be mismatched: "nothing to fix" would be a guess.
    const unread = inventory.problems.filter((p) => p.kind === 'unreadable_pool_metadata');
    if (unread.length > 0)
      throw new UsageError(
        `cannot tell whether ${unread.map((p) => `${printable(p.vg ?? '?')}/${printable(p.lv ?? '?')}`).join(', ')} ${unread.length > 1 ? 'have' : 'has'} a transaction-id mismatch: ${unread.map((p) => p.detail).join('; ')}`,
      );
    throw new UsageError(`no thin pool in ${imagePaths(images).join(', ')} has a transaction-id mismatch: nothing to fix`);
  }
  const vgs = [...new Set(wrong.map((p) => p.vg))];
  if (vgs.length > 1) throw new ArgumentError(`pools of several VGs (${vgs.map(printable).join(', ')}) have mismatches: give the images of one VG at a time`);
  for (const p of wrong) {
    if (p.agreement.pendingMessages || !sameDevices(p.agreement))
      throw new UsageError(`not writing a VG text for ${printable(p.vg)}/${printable(p.pool)}: ${mismatchAdvice(printable(p.pool), p.agreement)}`);
  }
  let text = wrong[0].text;
  for (const p of wrong) text = withTransactionId(text, p.vg, p.pool, p.agreement.metadataTransactionId);
  const before = modelOf(wrong[0].text, vgs[0]);
  const after = modelOf(text, vgs[0]);
  for (const p of wrong) {
    const seg = after.lvs.get(p.pool)?.segments[0];
    if (!seg || BigInt(seg.transactionId ?? -1) !== p.agreement.metadataTransactionId)
      throw new UsageError(`the edited text does not give ${printable(p.vg)}/${printable(p.pool)} the new transaction_id: not writing it`);
    seg.transactionId = must(before.lvs.get(p.pool)?.segments[0], `pool ${p.pool}'s segment`).transactionId;
  }
  if (JSON.stringify([...before.lvs], replacer) !== JSON.stringify([...after.lvs], replacer) || before.seqno !== after.seqno) {
    throw new UsageError("the edited text models another VG than LVM's: not writing it");
  }
  return { vg: vgs[0], text, pools: wrong.map((p) => ({ pool: p.pool, from: p.agreement.lvmTransactionId, to: p.agreement.metadataTransactionId })) };
}

const replacer = (_k: string, v: unknown): unknown => (v instanceof Map ? [...v] : v);

function modelOf(text: string, vg: string): VolumeGroup {
  let top: ConfigSection;
  try {
    top = parseConfigText(text);
  } catch (e) {
    if (!(e instanceof ConfigSyntaxError)) throw e;
    throw new UsageError(`the edited VG text does not parse (${e.message}): not writing it`);
  }
  const s = top.section(vg);
  if (!s) throw new UsageError(`the VG text has no section ${printable(vg)}: not writing it`);
  return volumeGroup(s);
}
