/**
 * dmthin containerd doctor on the pool containerd 1.6 made
 * (fixtures/containerd-real): healthy as found; with a mapping leaf of the
 * pool's metadata zeroed, the loss named in containerd's names
 * (NAMESPACE/KEY, the container) and a plan in containerd's terms.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
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

  it("on copies of a dead host's files, the plan says whose paths it names first, and ctr is given the host's socket", () => {
    const meta = tmp.path('damaged-2');
    const bytes = readFileSync(host.metadata);
    writeFileSync(meta, bytes);
    writeBlock(meta, mappingLeaf(meta), new Uint8Array(4096));
    const r = dmthin(
      'containerd',
      'doctor',
      host.root,
      '--config',
      host.config,
      '--snapshotter-root',
      host.snapshotterRoot,
      '--metadata',
      meta,
      '--data',
      host.data,
      '--json',
    );
    const plan = (JSON.parse(r.stdout) as { plan: Array<{ step: string; command?: string }> }).plan;
    // fixtures/containerd-real/config.toml: root /run/ct/root, grpc address /run/ct/containerd.sock.
    expect(plan[0].step).toMatch(
      new RegExp(`^The paths below are where this command read the files: ROOT ${host.root}, which the config says was /run/ct/root on the host`),
    );
    expect(plan.map((p) => p.command ?? '').join('\n')).toContain(
      'for ns in default other; do ctr --address /run/ct/containerd.sock -n $ns snapshots --snapshotter devmapper ls; done',
    );
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
    // The layer lost in default is unpacked in namespace other too: the same chain id, the same bytes.
    const copy = report.problems.find((p) => p.code === 'containerd_layer_copy');
    expect(copy?.summary).toMatch(/^default\/(sha256:[0-9a-f]{64}) \(thin \d+\) lost blocks; the same layer .* is other\/\1 \(thin \d+\), which lost none$/);
    const kit = tmp.path('kit');
    expect(dmthin('containerd', 'doctor', host.root, '--metadata', meta, '--data', host.data, '-o', kit).code).toBe(1);
    expect(readdirSync(kit)).toEqual(expect.arrayContaining(['plan.txt', 'report.json', 'repaired.meta']));
    // With the kit written, its plan names it: no KIT placeholder, no advice to make one.
    const plan = readFileSync(join(kit, 'plan.txt'), 'utf8');
    expect(plan).not.toMatch(/KIT|no kit yet/);
    expect(plan).toContain(`cp --sparse=always ${kit}/repaired.meta ${meta}`);
    expect(existsSync(`${meta}.before`)).toBe(false);
  });
});
