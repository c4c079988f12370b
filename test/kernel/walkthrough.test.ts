/**
 * The seed walkthrough (what `npm run demo` shows) as a test on a real
 * kernel: every step succeeds, copy-on-write holds for a snapshot and a
 * snapshot of it, nothing leaks, and thin_dump agrees with dmthin's dump.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { skipReason } from '../support/env.js';
import { kernelUnavailableReason, runScenario } from './support.js';

const reason = kernelUnavailableReason();
let scratchDir = '';
let o: { code: number; text: string };

describe.skipIf(skipReason(reason === undefined, `seed walkthrough on a real kernel: ${reason}`))('the seed walkthrough on a real kernel', () => {
  beforeAll(async () => {
    const r = await runScenario('walkthrough.mjs');
    scratchDir = r.scratch;
    o = r.observed as typeof o;
  }, 600_000);

  afterAll(() => {
    if (scratchDir) rmSync(scratchDir, { recursive: true, force: true });
  });

  it('runs every step to the end', () => {
    expect(o.text).not.toMatch(/!! /);
    expect(o.text).toMatch(/The walkthrough completed\./);
    expect(o.code).toBe(0);
    for (let n = 1; n <= 10; n++) expect(o.text).toContain(`━━ ${n}. `);
  });

  it('shows copy-on-write: the snapshot and its snapshot keep the old file', () => {
    expect(o.text).toMatch(/cat .*mnt\/base\/hello\.txt\n\s+the base volume, changed after the snapshot/);
    expect(o.text).toMatch(/cat .*mnt\/snap1\/hello\.txt\n\s+written to the base volume before the snapshot/);
    expect(o.text).toMatch(/cat .*mnt\/snap2\/hello\.txt\n\s+written to the base volume before the snapshot/);
    expect(o.text).toContain('copy-on-write works');
  });

  it('tears down without leaks and agrees with thin_dump offline', () => {
    expect(o.text).toContain('no loop or dm device left behind.');
    expect(o.text).toMatch(/TRANSACTION_ID=0\n\s+METADATA_FREE_BLOCKS=\d+/);
    expect(o.text).toContain('thin_dump prints exactly the same XML.');
  });
});
