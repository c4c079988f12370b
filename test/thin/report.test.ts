/**
 * The HTML report, looked at in a real headless browser: the page renders
 * the family tree (nested as the pool was made: 2 and 4 from 1, 5 from 2),
 * the bars and the space map, with nothing loaded from outside.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { collectReport } from '../../src/thin/insight/report.js';
import { dmthin } from '../support/cli.js';
import { projectRoot, scratch, skipReason, xzDecompress } from '../support/env.js';
import { countColor, decodePng } from '../support/png.js';
import { must } from '../../src/errors.js';

const tmp = scratch();
afterAll(() => tmp.cleanup());
const fixture = join(projectRoot, 'fixtures', 'snapshots.meta.xz');
let meta = '';
let html = '';

beforeAll(() => {
  meta = tmp.path('snapshots.meta');
  xzDecompress(fixture, meta);
  html = tmp.path('report.html');
  const r = dmthin('report', meta, '-o', html);
  expect(r.code, r.stderr).toBe(0);
});

const chromium = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find(existsSync);
const CHROME_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

describe('dmthin report', () => {
  it('infers the family the fixture script made: 2 and 4 snapshot 1, 5 snapshots 2', () => {
    const r = collectReport(meta);
    const parent = Object.fromEntries(r.family.map((f) => [f.devId, f.parent ?? null]));
    expect(parent).toEqual({ 1: null, 2: 1, 4: 1, 5: 2 });
  });

  it('is one self-contained file: no scripts, links, images or URLs from outside', () => {
    const text = readFileSync(html, 'utf8');
    expect(text).not.toMatch(/<script|<link|<img|<iframe|@import|url\(/i);
    expect(text).not.toMatch(/(https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}/i);
  });

  it.skipIf(skipReason(!!chromium, 'no chromium: the report is not looked at in a browser (apt-get install chromium)'))(
    'renders in headless Chromium: the DOM nests the tree, the screenshot shows it',
    () => {
      const browser = must(chromium, 'chromium');
      const profile = tmp.path('chrome-profile');
      const dom = spawnSync(browser, [...CHROME_FLAGS, `--user-data-dir=${profile}`, '--dump-dom', `file://${html}`], { encoding: 'utf8', timeout: 90_000 });
      expect(dom.status, dom.stderr).toBe(0);
      // Rendered DOM: thin 5 inside thin 2's list, inside thin 1's.
      const tree = must(/<ul class="tree" id="family">([\s\S]*?)<\/ul>\s*<h2>/.exec(dom.stdout), 'the family tree in the DOM')[1];
      const at = (id: number): number => tree.indexOf(`data-dev="${id}"`);
      expect(at(1)).toBeGreaterThanOrEqual(0);
      expect(at(2)).toBeGreaterThan(at(1));
      expect(at(5)).toBeGreaterThan(at(2));
      expect(tree.slice(at(2), at(5))).toContain('<ul>');

      const png = tmp.path('report.png');
      const shot = spawnSync(browser, [...CHROME_FLAGS, `--user-data-dir=${profile}`, '--window-size=1200,1500', `--screenshot=${png}`, `file://${html}`], {
        encoding: 'utf8',
        timeout: 90_000,
      });
      expect(shot.status, shot.stderr).toBe(0);
      const img = decodePng(readFileSync(png));
      expect([img.width, img.height]).toEqual([1200, 1500]);
      // Tree node borders (#2b6cb0) and their fill (#ebf8ff) drawn in the tree's part of the page.
      const treeArea = { x: 0, y: 250, w: 700, h: 600 };
      expect(countColor(img, [0x2b, 0x6c, 0xb0], 10, treeArea)).toBeGreaterThan(1500);
      expect(countColor(img, [0xeb, 0xf8, 0xff], 6, treeArea)).toBeGreaterThan(20000);
      // Shared (orange) and exclusive (blue) bars, and the space map's free squares.
      expect(countColor(img, [0xdd, 0x6b, 0x20], 10)).toBeGreaterThan(5000);
      expect(countColor(img, [0x31, 0x82, 0xce], 10)).toBeGreaterThan(1000);
      expect(countColor(img, [0xe2, 0xe8, 0xf0], 4)).toBeGreaterThan(50000);
    },
  );
});
