/**
 * Measuring a repair the way the issue asks: count mappings, not lines.
 * After repair, each (thin id, virtual block) -> data block mapping either
 * equals the undamaged original (correct), differs from it or did not
 * exist in it (wrong), or is gone (missing).
 */
import { readFileSync } from 'node:fs';
import { Metadata } from '../../src/thin/metadata.js';
import { BTreeTraversal } from '../../src/pdata/btree/traversal.js';
import { BTreeNode } from '../../src/format/btree-node.js';
import { must } from '../../src/errors.js';

/** (dev, vblock) -> data block, from thin_dump XML (either tool's, either form). */
export function mappingsOfXml(xml: string): Map<string, number> {
  const out = new Map<string, number>();
  let dev = -1;
  const attr = (line: string, name: string): number => Number(must(new RegExp(`\\b${name}="(\\d+)"`).exec(line), name)[1]);
  for (const line of xml.split('\n')) {
    if (line.includes('<device ')) dev = attr(line, 'dev_id');
    else if (line.includes('<range_mapping ')) {
      const o = attr(line, 'origin_begin');
      const d = attr(line, 'data_begin');
      const n = attr(line, 'length');
      for (let i = 0; i < n; i++) out.set(`${dev}:${o + i}`, d + i);
    } else if (line.includes('<single_mapping ')) {
      out.set(`${dev}:${attr(line, 'origin_block')}`, attr(line, 'data_block'));
    }
  }
  return out;
}

export function mappingsOfFile(xmlPath: string): Map<string, number> {
  return mappingsOfXml(readFileSync(xmlPath, 'utf8'));
}

export interface Score {
  correct: number;
  wrong: number;
  missing: number;
  /** Devices in the repair that the original lacks (resurrected). */
  extraDevices: number[];
  /** Devices of the original the repair lacks. */
  lostDevices: number[];
}

function devicesOf(xml: string): Set<number> {
  const s = new Set<number>();
  for (const m of xml.matchAll(/<device dev_id="(\d+)"/g)) s.add(Number(m[1]));
  return s;
}

export function score(originalXml: string, repairedXml: string): Score {
  const a = mappingsOfXml(originalXml);
  const b = mappingsOfXml(repairedXml);
  let correct = 0;
  let wrong = 0;
  for (const [k, d] of b) {
    if (a.get(k) === d) correct++;
    else wrong++;
  }
  const da = devicesOf(originalXml);
  const db = devicesOf(repairedXml);
  return {
    correct,
    wrong,
    missing: a.size - correct,
    extraDevices: [...db].filter((x) => !da.has(x)),
    lostDevices: [...da].filter((x) => !db.has(x)),
  };
}

/** Leaf blocks and internal blocks of one thin device's mapping tree, root first. */
export function treeBlocks(path: string, devId: number): { root: number; leaves: number[]; internals: number[] } {
  const md = Metadata.open(path);
  try {
    const dev = md.devices().find((d) => d.devId === devId);
    if (!dev || dev.mappingRoot === undefined) throw new Error(`no thin device ${devId}`);
    const leaves: number[] = [];
    const internals: number[] = [];
    // Internal nodes in walk order (skip is asked of every node before it is read).
    new BTreeTraversal(md.reader).walk(dev.mappingRoot, {
      valueSize: 8,
      tree: { kind: 'mappings', devId },
      skip: (b) => {
        if (!new BTreeNode(md.reader.read(b), b).isLeaf) internals.push(b);
        return false;
      },
      onLeaf: (node) => leaves.push(node.location),
    });
    return { root: dev.mappingRoot, leaves, internals };
  } finally {
    md.close();
  }
}
