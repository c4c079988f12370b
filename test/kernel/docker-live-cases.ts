/**
 * dmthin docker activate / snapshot / release / deactivate on a real kernel
 * (the VM unless this host has dm-thin), on the kernel-made Docker fixture.
 * Run in the driver's VM boot (guest/driver-scenario.mjs runs docker-live.mjs);
 * driver.test.ts calls this inside its describe.
 */
import { expect, it } from 'vitest';

export function dockerLiveCases(observed: () => Record<string, any>): void {
  it('refuses to snapshot before the pool is active', () => {
    const o = observed();
    expect(o.snapshotInactive.code).toBe(1);
    expect(o.snapshotInactive.stderr).toMatch(/is not active: run dmthin docker activate/);
  });

  it('rolls back an activation that fails after the pool was created', () => {
    const o = observed();
    expect(o.activateFault.code).toBe(1);
    expect(o.activateFault.stderr).toMatch(/injected fault at pool-activate:after-pool/);
    expect(o.activateFault.after).toEqual(o.baseline);
    expect(o.activateFault.state).toEqual([]);
  });

  it('rolls back a snapshot whose activation fails: its id is free again and no device is left', () => {
    const o = observed();
    expect(o.snapFault.code).toBe(1);
    expect(o.snapFault.stderr).toMatch(/injected fault at snap-create:before-activate/);
    expect(o.snapFault.dms.filter((d: string) => d.includes('dmthin-snap-'))).toHaveLength(1); // only web's
    // The next snapshot gets the same id the failed one had: the rollback deleted the thin.
    expect(JSON.parse(o.snapDb.stdout).id).toBe(16777214);
  });

  it('activates the pool as Docker names it, and uses it if already up', () => {
    const o = observed();
    expect(o.activate.code, o.activate.stderr).toBe(0);
    expect(o.activate.stdout).toMatch(/^activated docker-\d+:\d+-\d+-pool on \/dev\/loop\d+, \/dev\/loop\d+/);
    expect(o.activateAgain.stdout).toMatch(/is already active/);
  });

  it('snapshots a container by name under a free id unknown to Docker and mounts it read-only', () => {
    const o = observed();
    expect(o.snapWeb.code, o.snapWeb.stderr).toBe(0);
    const s = JSON.parse(o.snapWeb.stdout);
    expect(s).toMatchObject({ origin: '3c'.repeat(32), origin_id: 5, id: 16777215, fs_type: 'ext4' });
    expect(s.dm_name).toMatch(/^docker-\d+:\d+-\d+-dmthin-snap-16777215$/);
    expect(o.webLog).toBe('web started\n');
    expect(o.webId).toBe('3c'.repeat(32));
    expect(o.writeRefused.code).not.toBe(0);
    const db = JSON.parse(o.snapDb.stdout);
    expect(db).toMatchObject({ origin_id: 7, id: 16777214 });
    expect(o.snapUnknown.stderr).toMatch(/no Docker device, container name or hash 'nosuch'/);
  });

  it('will not deactivate while snapshots are active; release and deactivate leave nothing behind', () => {
    const o = observed();
    expect(o.deactivateBusy.code).toBe(1);
    expect(o.deactivateBusy.stderr).toMatch(/still active .*release .* --all first/);
    expect(o.releaseAll.stdout).toMatch(/released .*dmthin-snap-16777215.*dmthin-snap-16777214|released .*dmthin-snap-16777214.*dmthin-snap-16777215/);
    expect(o.deactivate.code, o.deactivate.stderr).toBe(0);
    expect(o.final).toEqual(o.baseline);
  });

  it("leaves Docker's view unchanged: devices, mappings, transaction ids, problems; the metadata checks clean", () => {
    const o = observed();
    expect(o.after).toEqual(o.before);
    expect(o.before.pool).toBe(10);
    expect(o.thinCheck.code).toBe(0);
    expect(o.check.code).toBe(0);
  });
}
