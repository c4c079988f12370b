/**
 * dmthin containerd doctor on the pool containerd 1.6 made
 * (fixtures/containerd-real): healthy as found; with a mapping leaf of the
 * pool's metadata zeroed, the loss named in containerd's names
 * (NAMESPACE/KEY, the container) and a plan in containerd's terms.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { projectRoot, scratch } from '../support/env.js';
import { getU64 } from '../../src/format/le.js';
import { parseNodeHeader } from '../../src/format/btree-node.js';
import { classifyBlock } from '../../src/format/checksum.js';
import { dmthin } from '../support/cli.js';
import { readBlock, writeBlock } from '../support/damage.js';
import { liveBlocks } from '../support/damage-generator.js';
import { unpackContainerdHost } from '../support/fixtures.js';

const fixture = join(projectRoot, 'fixtures', 'containerd-real');
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

describe('containerd doctor: where the lost data still is', () => {
  const meta = tmp.path('damaged-3');
  writeFileSync(meta, readFileSync(host.metadata));
  writeBlock(meta, mappingLeaf(meta), new Uint8Array(4096));
  const kit = tmp.path('kit-3');
  const r = dmthin('containerd', 'doctor', host.root, '--metadata', meta, '--data', host.data, '--json', '-o', kit);
  const report = JSON.parse(r.stdout) as {
    problems: Array<{ code: string; summary: string; facts: Record<string, number> }>;
    devices: Array<{ device_id: number; lost: Array<{ offset: number; length: number }>; lost_mapped_bytes?: number }>;
    plan: Array<{ step: string; command?: string }>;
  };
  const hit = report.devices.find((d) => d.lost.length > 0);

  it("a committed layer's lost blocks are in the snapshot made from it: the kit's repair with those ranges taken from the child reads as the kernel read the layer", () => {
    const child = report.problems.find((p) => p.code === 'containerd_lost_in_child');
    expect(child?.facts.shared_blocks).toBe((hit?.lost_mapped_bytes ?? 0) / 65536);
    const repaired = tmp.path('parent-repaired.img');
    const fromChild = tmp.path('child.img');
    const parentKey = child?.summary.match(/blocks (\S+) \(thin/)?.[1] ?? '';
    const childKey = child?.summary.match(/by (\S+) \(thin/)?.[1] ?? '';
    expect(dmthin('containerd', 'export', host.root, parentKey, '--metadata', join(kit, 'repaired.meta'), '--data', host.data, '-o', repaired).code).toBe(0);
    expect(dmthin('containerd', 'export', host.root, childKey, '--metadata', meta, '--data', host.data, '-o', fromChild).code).toBe(0);
    const img = readFileSync(repaired);
    const c = readFileSync(fromChild);
    // The child's mappings older than the child (dm-thin's time counts snapshots), as thin_dump's XML of the repaired metadata gives them.
    const childId = child?.facts.child_device_id ?? -1;
    const xml = dmthin('dump', join(kit, 'repaired.meta')).stdout;
    const dev = xml.slice(xml.indexOf(`<device dev_id="${childId}"`), xml.indexOf('</device>', xml.indexOf(`<device dev_id="${childId}"`)));
    const created = Number(dev.match(/creation_time="(\d+)"/)?.[1]);
    const old: number[] = [];
    for (const m of dev.matchAll(/<range_mapping origin_begin="(\d+)" data_begin="\d+" length="(\d+)" time="(\d+)"/g))
      if (Number(m[3]) < created) for (let i = 0; i < Number(m[2]); i++) old.push(Number(m[1]) + i);
    for (const m of dev.matchAll(/<single_mapping origin_block="(\d+)" data_block="\d+" time="(\d+)"/g)) if (Number(m[2]) < created) old.push(Number(m[1]));
    let taken = 0;
    for (const l of hit?.lost ?? []) {
      for (const v of old) {
        const at = v * 65536;
        if (at < l.offset || at >= l.offset + l.length) continue;
        c.copy(img, at, at, at + 65536);
        taken++;
      }
    }
    expect(taken).toBe(child?.facts.shared_blocks);
    const kernel = readFileSync(join(fixture, 'devices.txt'), 'utf8').match(new RegExp(`^${hit?.device_id} (\\w+)$`, 'm'))?.[1];
    expect(createHash('md5').update(img).digest('hex')).toBe(kernel);
  });

  it('the removed snapshots that survive in the damaged metadata are brought back before the repair replaces it', () => {
    const step = report.plan.find((s) => s.step.startsWith('Bring back the 2 removed snapshot(s)'));
    expect(step?.command?.split('\n')).toHaveLength(2);
    const i = report.plan.indexOf(step ?? { step: '' });
    const putBack = report.plan.findIndex((s) => (s.command ?? '').includes('repaired.meta') && (s.command ?? '').startsWith('cmp '));
    expect(i).toBeGreaterThan(-1);
    expect(i).toBeLessThan(putBack);
  });

  it("ls marks the hurt snapshot in containerd's names", () => {
    const ls = JSON.parse(dmthin('containerd', 'ls', host.root, '--metadata', meta, '--data', host.data, '--json').stdout) as {
      snapshots: Array<{ device_id: number; damaged: boolean }>;
      problems: Array<{ code: string; device_id: number | null; key: string | null }>;
    };
    expect(ls.snapshots.filter((s) => s.damaged).map((s) => s.device_id)).toEqual([hit?.device_id]);
    expect(ls.problems.find((p) => p.code === 'damaged-mappings')).toMatchObject({ device_id: hit?.device_id });
  });
});
