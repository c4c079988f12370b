/**
 * The demo names what it hands the kernel (issue 22, item 7). The
 * walkthrough itself needs a kernel (test/kernel/walkthrough-cases.ts, in the driver test's boot); here,
 * without one: the dmsetup lines it prints, against the kernel's own syntax
 * (Documentation/admin-guide/device-mapper/thin-provisioning.rst: "dmsetup
 * message /dev/mapper/pool 0 "create_thin 0"", the thin-pool and thin
 * table lines), and that every step running a live dmthin verb prints them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as kernel from '../../src/demo/kernel-text.js';
import { projectRoot } from '../support/env.js';

describe('the demo names the tables and messages it sends', () => {
  it('names create_thin as a pool message, then the thin table that activates the id', () => {
    expect(kernel.createThin('pool', 0, 'thin0', 2097152)).toEqual([
      'dmsetup message pool 0 "create_thin 0"',
      'dmsetup create thin0 --table "0 2097152 thin /dev/mapper/pool 0"',
    ]);
  });

  it('names create_snap with the origin suspended around it, as the kernel requires of an active origin', () => {
    expect(kernel.createSnap('pool', 1, 0, 'thin0', 'snap1', 2097152)).toEqual([
      'dmsetup suspend thin0',
      'dmsetup message pool 0 "create_snap 1 0"',
      'dmsetup resume thin0',
      'dmsetup create snap1 --table "0 2097152 thin /dev/mapper/pool 1"',
    ]);
  });

  it('names the thin-pool table: start, length, metadata dev, data dev, block size, low water mark, feature count', () => {
    expect(kernel.poolTable('pool', '/dev/loop0', '/dev/loop1', 20971520, 128)).toEqual([
      'dmsetup create pool --table "0 20971520 thin-pool /dev/loop0 /dev/loop1 128 0 0"',
    ]);
  });

  it('names the metadata snapshot messages around a live dump', () => {
    const lines = kernel.liveDump('pool', '/dev/loop0');
    expect(lines[0]).toBe('dmsetup message pool 0 reserve_metadata_snap');
    expect(lines.at(-1)).toBe('dmsetup message pool 0 release_metadata_snap');
  });

  it('every walkthrough step that runs a live pool, thin or snap verb then prints what went to the kernel', () => {
    const src = readFileSync(join(projectRoot, 'src', 'demo', 'walkthrough.ts'), 'utf8').split('\n');
    const live = src.map((l, i) => [l, i] as const).filter(([l]) => /dmthin\('(pool|thin|snap)',/.test(l));
    expect(live.length).toBeGreaterThanOrEqual(8);
    for (const [l, i] of live) {
      const next = src.slice(i + 1, i + 3).join('\n');
      expect(next, `after: ${l.trim()}`).toMatch(/sent\(kernel\./);
    }
  });
});
