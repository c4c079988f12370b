/**
 * The entry point: dist/dmthin.cjs runs the bundle with the code cache the
 * build made; the earlier entry point's name keeps working for the links
 * admins made to it (LVM's thin_check).
 */
import { readFileSync, symlinkSync } from 'node:fs';
import { wrap } from 'node:module';
import { join } from 'node:path';
import { Script } from 'node:vm';
import { afterAll, describe, expect, it } from 'vitest';
import { cliPath } from '../support/cli.js';
import { projectRoot, runTool, scratch } from '../support/env.js';

const tmp = scratch();
afterAll(() => tmp.cleanup());
const dist = join(projectRoot, 'dist');
const version = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')).version;

describe('entry point', () => {
  it('the build leaves a code cache that V8 takes for the bundle as the launcher compiles it', () => {
    const script = new Script(wrap(readFileSync(join(dist, 'dmthin-bundle.cjs'), 'utf8')), {
      filename: join(dist, 'dmthin-bundle.cjs'),
      cachedData: readFileSync(join(dist, 'dmthin-bundle.cache')),
    });
    expect(script.cachedDataRejected).toBe(false);
    // A cache for other source is refused by V8, and the launcher then compiles: the cache cannot run stale code.
    const other = new Script(wrap(`${readFileSync(join(dist, 'dmthin-bundle.cjs'), 'utf8')}\n;0`), {
      filename: 'other.cjs',
      cachedData: readFileSync(join(dist, 'dmthin-bundle.cache')),
    });
    expect(other.cachedDataRejected).toBe(true);
  });

  it('runs when executed as a file through symlinks, as LVM runs thin_check, under both entry names', () => {
    symlinkSync(cliPath, tmp.path('thin_check'));
    symlinkSync(join(dist, 'dmthin.mjs'), tmp.path('dmthin-old'));
    expect(runTool(tmp.path('thin_check'), ['-V'])).toMatchObject({ code: 0, stdout: `${version}\n` });
    expect(runTool(tmp.path('dmthin-old'), ['--version'])).toMatchObject({ code: 0, stdout: `${version}\n` });
    const usage = runTool(tmp.path('thin_check'), []);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/^thin_check: /);
    expect(usage.stderr).not.toMatch(/ at |node:internal/);
  });
});
