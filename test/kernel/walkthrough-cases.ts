/**
 * The seed walkthrough (what `npm run demo` shows) as a test on a real
 * kernel: every step succeeds, copy-on-write holds for a snapshot and a
 * snapshot of it, nothing leaks, and thin_dump agrees with dmthin's dump.
 * Run in the driver's VM boot (guest/driver-scenario.mjs runs walkthrough.mjs);
 * driver.test.ts calls this inside its describe.
 */
import { expect, it } from 'vitest';

export function walkthroughCases(observed: () => { code: number; text: string }): void {
  it('runs every step to the end', () => {
    const o = observed();
    expect(o.text).not.toMatch(/!! /);
    expect(o.text).toMatch(/The walkthrough completed\./);
    expect(o.code).toBe(0);
    for (let n = 1; n <= 10; n++) expect(o.text).toContain(`━━ ${n}. `);
  });

  it('shows copy-on-write: the snapshot and its snapshot keep the old file', () => {
    const o = observed();
    expect(o.text).toMatch(/cat .*mnt\/base\/hello\.txt\n\s+the base volume, changed after the snapshot/);
    expect(o.text).toMatch(/cat .*mnt\/snap1\/hello\.txt\n\s+written to the base volume before the snapshot/);
    expect(o.text).toMatch(/cat .*mnt\/snap2\/hello\.txt\n\s+written to the base volume before the snapshot/);
    expect(o.text).toContain('copy-on-write works');
  });

  it('tears down without leaks and agrees with thin_dump offline', () => {
    const o = observed();
    expect(o.text).toContain('no loop or dm device left behind.');
    expect(o.text).toMatch(/TRANSACTION_ID=0\n\s+METADATA_FREE_BLOCKS=\d+/);
    expect(o.text).toContain('thin_dump prints exactly the same XML.');
  });
}
