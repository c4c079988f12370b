/**
 * Which generation a repair without a superblock takes: the rule of
 * src/thin/repair/generation-order.ts on made-up generations, and on the
 * kernel-made pools whose devices were deleted after their last write.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { copyFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dmthin } from '../support/cli.js';
import { oracle, projectRoot, scratch, tpt09, xzDecompress } from '../support/env.js';
import { writeBlock } from '../support/damage.js';
import { type Generation, compareGenerations, newestGeneration } from '../../src/thin/repair/generation-order.js';
import { rawPlan } from '../../src/thin/doctor/plan.js';
import { filesSource } from '../../src/thin/pool-source.js';

const tmp = scratch();
afterAll(() => tmp.cleanup());

/** A generation from [id, root, transaction id, newest time, mappings at it]. */
const gen = (name: string, ...devs: Array<[number, number, number, number, number]>): Generation & { name: string } => ({
  name,
  devices: new Map(devs.map(([id, root, tid, t, n]) => [id, { root, transactionId: BigInt(tid), newest: [t, n] as const }])),
});
const chosen = (gens: Array<Generation & { name: string }>): string => {
  const r = newestGeneration(gens);
  return r?.kind === 'chosen' ? r.chosen.name : (r?.kind ?? 'none');
};

describe('ordering generations without a superblock', () => {
  it('a device with a higher transaction id in its details, or a newer tree, makes its generation the newer', () => {
    expect(compareGenerations(gen('a', [1, 10, 5, 1, 3]), gen('b', [1, 11, 4, 9, 99]))).toBe('newer');
    expect(compareGenerations(gen('a', [1, 10, 5, 2, 3]), gen('b', [1, 11, 5, 1, 99]))).toBe('newer');
    expect(compareGenerations(gen('a', [1, 10, 5, 2, 3]), gen('b', [1, 11, 5, 2, 4]))).toBe('older');
    // The same tree orders nothing; two different trees nothing orders contradict.
    expect(compareGenerations(gen('a', [1, 10, 5, 2, 3], [2, 20, 1, 1, 1]), gen('b', [1, 10, 5, 2, 3]))).toBe('same');
    expect(compareGenerations(gen('a', [1, 10, 5, 2, 3]), gen('b', [1, 11, 5, 2, 3]))).toBe('contradictory');
    expect(compareGenerations(gen('a', [1, 10, 6, 2, 3], [2, 20, 1, 1, 1]), gen('b', [1, 11, 5, 2, 3], [2, 21, 2, 1, 1]))).toBe('contradictory');
  });

  it('fewer devices with a newer tree beat more devices with a stale one: never the stale data of a live device', () => {
    // The old ranking (most mappings at the newest time over all devices) took `wide`.
    const wide = gen('wide', [1, 10, 5, 3, 100], [2, 20, 5, 3, 500]);
    const narrow = gen('narrow', [1, 11, 6, 3, 101]);
    expect(chosen([wide, narrow])).toBe('narrow');
  });

  it('generations that differ only by devices: the one listing them all, the others named as unordered', () => {
    const all = gen('all', [1, 10, 5, 3, 100], [2, 20, 5, 3, 50], [3, 30, 4, 2, 7]);
    const some = gen('some', [1, 10, 5, 3, 100], [3, 30, 4, 2, 7]);
    const empty = gen('empty');
    const r = newestGeneration([some, empty, all]);
    expect(r?.kind).toBe('chosen');
    if (r?.kind !== 'chosen') return;
    expect(r.chosen.name).toBe('all');
    expect(r.unordered.map((g) => g.name)).toEqual(['some']);
  });

  it('nothing is chosen when none lists every device, or when the trees contradict each other', () => {
    const a = gen('a', [1, 10, 5, 3, 100], [2, 20, 5, 3, 50]);
    const b = gen('b', [1, 10, 5, 3, 100], [3, 30, 5, 3, 50]);
    expect(chosen([a, b])).toBe('no-widest');
    const c = gen('c', [1, 11, 6, 3, 100], [2, 20, 5, 3, 50]);
    const d = gen('d', [1, 10, 5, 3, 100], [2, 21, 6, 3, 50]);
    expect(chosen([c, d])).toBe('contradictory');
    // An older generation besides does not change it.
    expect(chosen([c, d, gen('old', [1, 9, 1, 1, 1], [2, 19, 1, 1, 1])])).toBe('contradictory');
  });
});

describe('repair of kernel-made pools without a superblock', () => {
  /** (device, virtual block) -> data block per device, from thin_dump 0.9 where installed. */
  function dump(meta: string): Map<number, string> {
    const xml = tpt09 ? oracle('0.9', 'thin_dump', [meta]).stdout : dmthin('dump', meta).stdout;
    const out = new Map<number, string>();
    for (const part of xml.split('<device ').slice(1))
      out.set(Number(/dev_id="(\d+)"/.exec(part)?.[1]), part.replace(/^[^>]*>/, '').replace(/<\/device>[\s\S]*/, ''));
    return out;
  }

  for (const f of ['recovery-a', 'recovery-b', 'recovery-c', 'recovery-d', 'snapshots', 'generations', 'many-thins']) {
    it(`${f}, superblock zeroed: every live device comes back with exactly its mappings; devices deleted after the last write may come back, named`, () => {
      const orig = tmp.path(`${f}.meta`);
      xzDecompress(join(projectRoot, 'fixtures', `${f}.meta.xz`), orig);
      const live = dump(orig);
      const meta = tmp.path(`${f}-nosb.meta`);
      copyFileSync(orig, meta);
      writeBlock(meta, 0, new Uint8Array(4096));
      const out = tmp.path(`${f}-nosb.repaired`);
      writeFileSync(out, '');
      truncateSync(out, 64 << 20);
      // Without a superblock the block size must be given (the mappings compared do not depend on it).
      const r = dmthin('repair', '-i', meta, '-o', out, '--data-block-size', '128');
      expect(r.code, r.stderr).toBe(0);
      const got = dump(out);
      for (const [id, mappings] of live) expect(got.get(id), `thin device ${id}`).toBe(mappings);
      const extra = [...got.keys()].filter((id) => !live.has(id));
      // A device beyond the live ones is only one no tree orders against them: the note says so.
      if (extra.length > 0) expect(r.stderr).toMatch(/differ only by devices created or deleted/);
    });
  }
});

describe("doctor's plan when repair chooses no generation", () => {
  it("says why, how to decide it from the pool's device list, and gives the repair with the override roots, not a backup restore", () => {
    const why =
      'without a superblock, the newest generation cannot be told: mapping root 5 with details root 6 (thin ids 1,2) and mapping root 7 with details root 8 (thin ids 1,3) list the same trees';
    const steps = rawPlan(filesSource('/x/pool.meta'), {
      report: { problems: [{ code: 'superblock', severity: 'fatal', summary: 'lost', fix: 'repair' }], candidates: [] },
      metadataBlocks: 1024,
      needsRepair: true,
      dataBlockSize: 128,
      repairError: why,
    });
    const text = steps.map((s) => `${s.step}\n${s.command ?? ''}`).join('\n');
    expect(text).toContain(why);
    expect(text).toMatch(/lvs -a -o lv_name,thin_id/);
    expect(text).toContain('dmthin repair -i /x/pool.meta -o /x/pool.meta.repaired --override-mapping-root M --override-details-root D --data-block-size 128');
    expect(text).not.toMatch(/restore the newest backup/);
  });

  it('the block size lost with the superblock: a step to find it and run the doctor again with it; rival generations: a step to compare the device list', () => {
    const steps = rawPlan(filesSource('/x/pool.meta', '/x/pool.data'), {
      report: {
        problems: [
          {
            code: 'superblock',
            severity: 'fatal',
            summary: 'it is lost; other consistent generations with other devices exist (mapping 5/details 6: thin ids 1,4)',
            fix: 'repair',
          },
        ],
        candidates: [],
      },
      metadataBlocks: 1024,
      needsRepair: true,
      repairError: 'the data block size is not known: give --data-block-size',
    });
    const text = steps.map((s) => `${s.step}\n${s.command ?? ''}`).join('\n');
    expect(text).toContain('dmthin doctor --metadata /x/pool.meta --data /x/pool.data --data-block-size SECTORS -o NEWKIT');
    expect(text).toMatch(/compare the thin ids it keeps .* with the devices the pool should have/);
  });
});

describe("doctor's plan when only the data side is wrong", () => {
  it('out of data space with healthy metadata: the grow step alone, nothing copied, guarded or repaired', () => {
    const steps = rawPlan(filesSource('/x/pool.meta', '/x/pool.data'), {
      report: { problems: [{ code: 'data_space_exhausted', severity: 'non_fatal', summary: 'all in use', fix: 'grow' }], candidates: [] },
      metadataBlocks: 1024,
      needsRepair: false,
    });
    expect(steps.map((s) => s.step)).toEqual([expect.stringMatching(/^Grow the data device, then reload the pool table/)]);
  });
});
