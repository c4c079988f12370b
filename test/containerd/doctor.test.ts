/**
 * dmthin containerd doctor on the pool containerd 1.6 made
 * (fixtures/containerd-real): healthy as found; with a mapping leaf of the
 * pool's metadata zeroed, the loss named in containerd's names
 * (NAMESPACE/KEY, the container) and a plan in containerd's terms.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { getU64 } from '../../src/format/le.js';
import { parseNodeHeader } from '../../src/format/btree-node.js';
import { classifyBlock } from '../../src/format/checksum.js';
import { dmthin } from '../support/cli.js';
import { scratch } from '../support/env.js';
import { readBlock, writeBlock } from '../support/damage.js';
import { liveBlocks } from '../support/damage-generator.js';
import { unpackContainerdHost } from '../support/fixtures.js';

const tmp = scratch();
afterAll(() => tmp.cleanup());
const host = unpackContainerdHost(tmp.dir);
const pool = ['--metadata', host.metadata, '--data', host.data];

/** A live leaf of some device's mapping tree: keys are virtual blocks, past the few thin ids a top-level leaf holds. */
function mappingLeaf(path: string): number {
  for (const b of liveBlocks(path)) {
    const block = readBlock(path, b);
    if (classifyBlock(block) !== 'btreeNode') continue;
    const h = parseNodeHeader(block);
    if ((h.flags & 2) === 0 || h.valueSize !== 8 || h.nrEntries < 2) continue;
    if (getU64(block, 32 + 8 * (h.nrEntries - 1)) > 64) return b;
  }
  throw new Error(`no mapping leaf in ${path}`);
}

describe('containerd doctor', () => {
  it('the pool as containerd left it: healthy, exit 0, no plan', () => {
    const r = dmthin('containerd', 'doctor', host.root, ...pool, '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ healthy: true, plan: [] });
  });

  it('refuses without the pool, saying why and what reads the stores alone', () => {
    const r = dmthin('containerd', 'doctor', host.root);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--metadata M --data D.*dmthin containerd ls/);
  });

  it("a lost mapping leaf: named in containerd's names, a plan that stops containerd, keeps the stores and puts the repair back; the kit written on request", () => {
    const meta = tmp.path('damaged-metadata');
    const bytes = readFileSync(host.metadata);
    writeFileSync(meta, bytes);
    const leaf = mappingLeaf(meta);
    writeBlock(meta, leaf, new Uint8Array(4096));
    const r = dmthin('containerd', 'doctor', host.root, '--metadata', meta, '--data', host.data, '--json');
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as { problems: Array<{ code: string; summary: string }>; plan: Array<{ step: string; command?: string }> };
    const lost = report.problems.find((p) => p.code === 'lost_mappings');
    expect(lost?.summary).toMatch(/(default|other)\/[^ ]+ \((container|image) [^)]+\) \(thin device \d+\)/);
    const steps = report.plan.map((s) => `${s.step}\n${s.command ?? ''}`);
    expect(steps[0]).toMatch(/^Stop containerd[\s\S]*systemctl stop containerd/);
    expect(steps.join('\n')).toContain(`cp -a ${host.root}/io.containerd.metadata.v1.bolt/meta.db`);
    expect(steps.join('\n')).toContain(`cp --sparse=always KIT/repaired.meta ${meta}`);
    // The table the guest script loaded the pool with (make-containerd-real.sh): 512 MiB of 64 KiB blocks, low water 32768.
    expect(steps.join('\n')).toContain('dmsetup create ctdpool --table "0 1048576 thin-pool $M $D 128 32768"');
    expect(steps.at(-1)).toMatch(/^Only when every container starts/);
    const kit = tmp.path('kit');
    expect(dmthin('containerd', 'doctor', host.root, '--metadata', meta, '--data', host.data, '-o', kit).code).toBe(1);
    expect(readdirSync(kit)).toEqual(expect.arrayContaining(['plan.txt', 'report.json', 'repaired.meta']));
    expect(existsSync(`${meta}.before`)).toBe(false);
  });
});
