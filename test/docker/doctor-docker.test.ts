/**
 * dmthin docker doctor on the Docker tree made on a real kernel
 * (fixtures/docker): devices named as Docker knows them (the truth: the
 * records' device ids and sizes, the containers' configs), and the plan in
 * Docker's terms for the problems a report holds.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dockerNames, dockerPlan } from '../../src/docker/doctor-docker.js';
import { readDockerTree } from '../../src/docker/tree.js';
import type { DoctorReport } from '../../src/thin/doctor/report.js';
import { dmthin } from '../support/cli.js';
import { unpackDockerTree } from '../support/fixtures.js';
import { projectRoot, scratch } from '../support/env.js';

const fixture = join(projectRoot, 'fixtures', 'docker');
const tmp = scratch();
afterAll(() => tmp.cleanup());

/** A fresh copy of the Docker tree with its pool files unpacked. */
const tree = (name: string): string => unpackDockerTree(tmp.path(name));

const WEB = '3c'.repeat(32);
const DB = '4d'.repeat(32);
const root = tree('docker');
const record = (hash: string): { device_id: number; size: number } => JSON.parse(readFileSync(join(fixture, 'tree', 'devicemapper', 'metadata', hash), 'utf8'));

describe('docker doctor', () => {
  it("names each device as Docker knows it, with Docker's size", () => {
    const names = dockerNames(readDockerTree(root));
    expect(names.get(record(WEB).device_id)).toEqual({ name: `container web (layer ${WEB.slice(0, 12)})`, size: record(WEB).size });
    expect(names.get(record(`${WEB}-init`).device_id)?.name).toBe(`container web (init layer ${WEB.slice(0, 12)})`);
    expect(names.get(record(DB).device_id)?.name).toBe(`container db (layer ${DB.slice(0, 12)})`);
    expect(names.get(record('base').device_id)).toEqual({ name: 'base device', size: record('base').size });
    expect(names.get(record('1a'.repeat(32)).device_id)?.name).toBe(`image layer ${'1a'.repeat(6)}`);
    // Thin 10 is the open transaction's device: Docker has no record of it.
    expect(names.has(10)).toBe(false);
  });

  it('a healthy pool: exit 0, no plan; -o DIR writes the report and the plan, an existing DIR is refused', () => {
    const r = dmthin('docker', 'doctor', root, '--json');
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ pool: { kind: 'docker' }, healthy: true, plan: [] });
    expect(report.pool.name).toMatch(/^docker-\d+:\d+-\d+-pool$/);
    const kit = tmp.path('kit');
    expect(dmthin('docker', 'doctor', root, '-o', kit).code).toBe(0);
    expect(readdirSync(kit)).toEqual(expect.arrayContaining(['plan.txt', 'report.json']));
    expect(dmthin('docker', 'doctor', root, '-o', kit).code).toBe(2);
    expect(dmthin('docker', 'doctor', tmp.path('nothing')).code).toBe(1);
    expect(existsSync(tmp.path('nothing'))).toBe(false);
  });

  it("where Docker's records and the pool disagree, as Docker acts on it at its next start", () => {
    const ok = JSON.parse(dmthin('docker', 'doctor', root, '--json').stdout);
    // transaction-metadata: transaction 11 open on device 10 (the pool is at 10).
    const tm = JSON.parse(readFileSync(join(fixture, 'tree', 'devicemapper', 'metadata', 'transaction-metadata'), 'utf8'));
    expect(ok.problems).toEqual([expect.objectContaining({ code: 'docker_device_unrecorded', severity: 'info', facts: { device_id: tm.device_id } })]);
    expect(ok.problems[0].summary).toMatch(
      new RegExp(`thin device ${tm.device_id} is the open transaction's \\(${tm.open_transaction_id}, the pool is at 10\\): Docker deletes it`),
    );
    // A record for a device the pool lacks, and no open transaction.
    const other = tree('records');
    const records = join(other, 'devicemapper', 'metadata');
    rmSync(join(records, 'transaction-metadata'));
    writeFileSync(join(records, '5e'.repeat(32)), JSON.stringify({ device_id: 42, size: 1 << 24, transaction_id: 3, initialized: true, deleted: false }));
    const r = dmthin('docker', 'doctor', other, '--json');
    expect(r.code).toBe(1);
    const problems = JSON.parse(r.stdout).problems.filter((p: { code: string }) => p.code.startsWith('docker_'));
    expect(problems.map((p: { code: string; severity: string; facts: { device_id: number } }) => [p.code, p.severity, p.facts.device_id])).toEqual([
      ['docker_device_missing', 'non_fatal', 42],
      ['docker_device_unrecorded', 'info', tm.device_id],
    ]);
    expect(problems[1].summary).toMatch(/Docker has no record of it: Docker ignores it/);
    expect(JSON.parse(r.stdout).plan).toEqual([{ step: expect.stringMatching(/^The pool is sound; Docker's records name devices it lacks: /) }]);
  });

  it("plans in Docker's terms: stopped first, files kept, candidates saved, repaired metadata in place of the loop file, started, the copy removed last", () => {
    const t = readDockerTree(root);
    const report: DoctorReport = {
      pool: { kind: 'docker', name: t.poolName },
      healthy: false,
      problems: [
        { code: 'lost_mappings', severity: 'fatal', summary: 'a leaf is lost', fix: 'repair' },
        { code: 'data_space_exhausted', severity: 'fatal', summary: 'full', fix: 'grow' },
      ],
      devices: [],
      candidates: [{ dataBlock: 7, offset: 7 * 65536, matches: [] }],
      plan: [],
    };
    const steps = dockerPlan(report, t);
    const commands = steps.map((s) => s.command ?? '');
    expect(commands[0]).toBe('systemctl stop docker.socket docker.service');
    const at = (re: RegExp): number => steps.findIndex((s) => re.test(`${s.step}\n${s.command ?? ''}`));
    expect(at(/cp --sparse=always .*metadata .*metadata\.before/)).toBe(1);
    expect(at(/candidate data block/)).toBe(2);
    // The original is overwritten only while its byte-for-byte copy of step 1 equals it.
    expect(commands[3]).toBe(`cmp ${t.metadataFile} ${t.metadataFile}.before && cp --sparse=always KIT/repaired.meta ${t.metadataFile}`);
    expect(commands).toContain(`truncate -s ${2 * statSync(t.dataFile).size} ${t.dataFile}`);
    expect(at(/systemctl start docker/)).toBe(steps.length - 2);
    expect(steps[steps.length - 1].step).toMatch(/^Only when every container starts/);
  });
});
