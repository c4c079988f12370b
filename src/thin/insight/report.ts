/**
 * One self-contained HTML page about a pool: the snapshot family tree,
 * exclusive vs shared space per device, the data space map as a picture,
 * metadata use, and the checker's findings. No scripts from anywhere, no
 * fonts, no network: it opens from a rescue USB stick.
 */
import { bitmapEntry } from '../../format/bitmap.js';
import { escapeXml } from '../dump/xml-writer.js';
import { must } from '../../errors.js';
import { MetadataError } from '../../format/errors.js';
import { BTreeTraversal } from '../../pdata/btree/traversal.js';
import { bitmapSpan, readBitmap, readIndex } from '../../pdata/space-map/reader.js';
import type { ByteSource } from '../../io/byte-source.js';
import { check, type CheckResult } from '../check/check.js';
import { inferFamily, type FamilyNode } from './family.js';
import { humanSize } from '../../format/units.js';
import { lsRows, type LsRow } from './ls.js';
import { forEachDataBlock } from '../mapping-scan.js';
import { Metadata } from '../metadata.js';

export interface ReportData {
  path: string;
  generated: string;
  transactionId: bigint;
  time: number;
  dataBlockSize: number;
  nrDataBlocks: number;
  metadataBlocks: number;
  metadataFree: number | undefined;
  heldRoot: number;
  rows: LsRow[];
  family: FamilyNode[];
  /** Data space map picture: per cell, blocks free / mapped once / shared. */
  cells: Array<[number, number, number]>;
  blocksPerCell: number;
  check: CheckResult;
}

const CELLS = 4096;

export function collectReport(input: string | ByteSource): ReportData {
  const result = check(input);
  const md = Metadata.open(input);
  const path = md.reader.path;
  try {
    const devices = md.devices();
    const rows = lsRows(md, true);
    const family = inferFamily(md, devices);
    const nrData = md.superblock.dataSpaceMapRoot.nrBlocks;
    // How many mappings use each data block (0, 1, 2 = shared).
    const uses = new Uint8Array(nrData);
    for (const d of devices) {
      if (d.mappingRoot === undefined) continue;
      forEachDataBlock(md.reader, d.mappingRoot, d.devId, (b) => {
        if (b < nrData && uses[b] < 2) uses[b]++;
      });
    }
    // Blocks the space map holds but no mapping uses (leaks, or a held snapshot's) show as used.
    const held = spaceMapUsed(md);
    const blocksPerCell = Math.max(1, Math.ceil(nrData / CELLS));
    const cells: Array<[number, number, number]> = [];
    for (let c = 0; c * blocksPerCell < nrData; c++) {
      let free = 0;
      let once = 0;
      let shared = 0;
      for (let b = c * blocksPerCell; b < Math.min(nrData, (c + 1) * blocksPerCell); b++) {
        const u = uses[b];
        if (u === 0) {
          if (held?.[b]) once++;
          else free++;
        } else if (u === 1) once++;
        else shared++;
      }
      cells.push([free, once, shared]);
    }
    return {
      path,
      generated: new Date().toISOString(),
      transactionId: md.superblock.transactionId,
      time: md.superblock.time,
      dataBlockSize: md.superblock.dataBlockSize,
      nrDataBlocks: nrData,
      metadataBlocks: md.superblock.metadataSpaceMapRoot.nrBlocks,
      metadataFree: result.metadataFreeBlocks,
      heldRoot: md.superblock.heldRoot,
      rows,
      family,
      cells,
      blocksPerCell,
      check: result,
    };
  } finally {
    md.close();
  }
}

/** Data blocks the on-disk space map counts as used (undefined if unreadable). */
function spaceMapUsed(md: Metadata): Uint8Array | undefined {
  try {
    const root = md.superblock.dataSpaceMapRoot;
    const used = new Uint8Array(root.nrBlocks);
    const index = readIndex(md.reader, 'data', root, new BTreeTraversal(md.reader));
    for (let bi = 0; bi < index.entries.length; bi++) {
      const bm = readBitmap(md.reader, index, bi);
      const { first, count } = bitmapSpan(index, bi);
      for (let e = 0; e < count; e++) used[first + e] = bitmapEntry(bm, e) ? 1 : 0;
    }
    return used;
  } catch (e) {
    if (e instanceof MetadataError) return undefined;
    throw e;
  }
}

// HTML text and attributes need what XML attributes need.
const esc = escapeXml;

export function renderReport(r: ReportData): string {
  const bytes = (blocks: number): string => humanSize(blocks * r.dataBlockSize * 512);
  const byId = new Map(r.rows.map((x) => [x.devId, x]));
  const children = new Map<number | undefined, FamilyNode[]>();
  for (const f of r.family) children.set(f.parent, [...(children.get(f.parent) ?? []), f]);
  const maxMapped = Math.max(1, ...r.rows.map((x) => x.mappedBlocks));

  const treeNode = (f: FamilyNode): string => {
    const row = must(byId.get(f.devId), `the report row of thin ${f.devId}`);
    const kids = children.get(f.devId) ?? [];
    return `<li><div class="node" data-dev="${f.devId}"><b>thin ${f.devId}</b><span>${bytes(row.mappedBlocks)} mapped · ${bytes(row.exclusiveBlocks)} exclusive</span><small>created t=${row.creationTime}, snapshotted t=${row.snapshottedTime}${f.parent !== undefined ? ` · shares ${bytes(f.sharedWithParent)} with thin ${f.parent}` : ''}</small></div>${kids.length ? `<ul>${kids.map(treeNode).join('')}</ul>` : ''}</li>`;
  };
  const roots = children.get(undefined) ?? [];

  const bars = r.rows
    .map((x) => {
      const w = (n: number): string => ((100 * n) / maxMapped).toFixed(2);
      return `<tr><th>thin ${x.devId}</th><td class="bar"><div class="ex" style="width:${w(x.exclusiveBlocks)}%" title="exclusive ${bytes(x.exclusiveBlocks)}"></div><div class="sh" style="width:${w(x.sharedBlocks)}%" title="shared ${bytes(x.sharedBlocks)}"></div></td><td class="num">${bytes(x.exclusiveBlocks)}</td><td class="num">${bytes(x.sharedBlocks)}</td><td class="num">${bytes(x.mappedBlocks)}</td></tr>`;
    })
    .join('');

  const cols = 128;
  const cell = 7;
  const rects = r.cells
    .map(([free, once, shared], i) => {
      const total = free + once + shared;
      const color = shared > 0 && shared >= once ? '#dd6b20' : once > 0 ? '#3182ce' : '#e2e8f0';
      const opacity = total ? Math.max(0.35, (once + shared) / total) : 1;
      return `<rect x="${(i % cols) * cell}" y="${Math.floor(i / cols) * cell}" width="${cell - 1}" height="${cell - 1}" fill="${color}"${color !== '#e2e8f0' ? ` fill-opacity="${opacity.toFixed(2)}"` : ''}/>`;
    })
    .join('');
  const mapHeight = Math.ceil(r.cells.length / cols) * cell;
  const usedData = r.cells.reduce((a, c) => a + c[1] + c[2], 0);
  const sharedData = r.cells.reduce((a, c) => a + c[2], 0);
  const metaUsed = r.metadataFree === undefined ? undefined : r.metadataBlocks - r.metadataFree;

  const findings = r.check.findings.length
    ? `<ul class="findings">${r.check.findings.map((f) => `<li class="${f.severity}"><b>${f.severity}</b> ${esc(f.area)}${f.block !== undefined ? ` · block ${f.block}` : ''}${f.device !== undefined ? ` · thin ${f.device}` : ''}: ${esc(f.message)}</li>`).join('')}</ul>`
    : '<p class="ok">The metadata checks clean: every tree and both space maps agree.</p>';

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>dmthin report: ${esc(r.path)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.45 system-ui,-apple-system,"DejaVu Sans",sans-serif;margin:24px;color:#1a202c;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 10px;border-bottom:1px solid #e2e8f0;padding-bottom:4px}
.meta{color:#4a5568}.cards{display:flex;gap:12px;flex-wrap:wrap}.card{border:1px solid #e2e8f0;border-radius:8px;padding:10px 14px;min-width:150px}
.card b{display:block;font-size:20px}.ok{color:#276749;font-weight:600}
ul.tree,ul.tree ul{list-style:none;margin:0;padding-left:28px;position:relative}ul.tree{padding-left:0}
ul.tree li{position:relative;padding:6px 0 6px 0}
ul.tree ul>li::before{content:"";position:absolute;left:-18px;top:0;bottom:50%;border-left:2px solid #a0aec0;border-bottom:2px solid #a0aec0;width:16px}
.node{display:inline-flex;flex-direction:column;background:#ebf8ff;border:2px solid #2b6cb0;border-radius:8px;padding:6px 10px}
.node span{color:#2a4365}.node small{color:#4a5568}
table.bars{border-collapse:collapse;width:100%;max-width:1000px}table.bars th{text-align:left;padding:3px 10px 3px 0;white-space:nowrap}
td.bar{width:60%;padding:3px 0}td.bar div{display:inline-block;height:16px}.ex{background:#3182ce}.sh{background:#dd6b20}
td.num{text-align:right;padding:0 8px;white-space:nowrap;color:#2d3748}
.legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 14px;vertical-align:-1px}
.findings li.fatal{color:#9b2c2c}.findings li{margin:3px 0}
</style></head><body>
<h1>Thin pool report</h1>
<div class="meta">${esc(r.path)} · transaction ${r.transactionId} · pool time ${r.time} · data block ${humanSize(r.dataBlockSize * 512)} · generated ${esc(r.generated)} by dmthin</div>
<div class="cards">
<div class="card">devices<b>${r.rows.length}</b></div>
<div class="card">data used<b>${bytes(usedData)}</b>of ${bytes(r.nrDataBlocks)} (${((100 * usedData) / Math.max(1, r.nrDataBlocks)).toFixed(1)}%)</div>
<div class="card">shared data<b>${bytes(sharedData)}</b>blocks used by several mappings</div>
<div class="card">metadata used<b>${metaUsed === undefined ? '?' : `${metaUsed} blocks`}</b>of ${r.metadataBlocks} (${metaUsed === undefined ? '?' : ((100 * metaUsed) / Math.max(1, r.metadataBlocks)).toFixed(1)}%)</div>
<div class="card">metadata snapshot<b>${r.heldRoot ? `block ${r.heldRoot}` : 'none'}</b>${r.heldRoot ? 'held: release it when done' : ''}</div>
<div class="card">check<b>${r.check.ok ? (r.check.findings.length ? 'warnings' : 'clean') : 'ERRORS'}</b>${r.check.findings.length} findings</div>
</div>
<h2>Snapshot family tree</h2>
<p class="meta">Inferred from creation and snapshot times and shared data blocks (the kernel records no origin).</p>
<ul class="tree" id="family">${roots.map(treeNode).join('')}</ul>
<h2>Space per device</h2>
<div class="legend"><span class="ex"></span>exclusive (only this device maps it)<span class="sh"></span>shared (mapped more than once)</div>
<table class="bars"><tr><th></th><td></td><td class="num"><b>exclusive</b></td><td class="num"><b>shared</b></td><td class="num"><b>mapped</b></td></tr>${bars}</table>
<h2>Data space map</h2>
<div class="legend"><span style="background:#e2e8f0"></span>free<span style="background:#3182ce"></span>used once<span style="background:#dd6b20"></span>shared · each square is ${r.blocksPerCell} block${r.blocksPerCell > 1 ? 's' : ''}; paler squares are partly free</div>
<svg id="spacemap" width="${cols * cell}" height="${mapHeight}" viewBox="0 0 ${cols * cell} ${mapHeight}" role="img" aria-label="data space map">${rects}</svg>
<h2>Check</h2>
${findings}
</body></html>
`;
}

/** The HTML report of the metadata in a file or device, or in any ByteSource (an LV inside disk images). */
export function report(input: string | ByteSource): string {
  return renderReport(collectReport(input));
}
