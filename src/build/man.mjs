#!/usr/bin/env node
// Makes the manual pages from docs/ at build time, so they cannot drift from
// the documentation: docs/dmthin.md -> dist/man/dmthin.1, docs/CMD.md ->
// dist/man/dmthin-CMD.1 (pool.md also answers for `thin` and `snap`).
// The Markdown used in docs/ is a small subset: headings, paragraphs,
// indented or fenced code, "- " lists, tables, `code`, **bold**, [links](x).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const docs = join(root, 'docs');
const out = join(root, 'dist', 'man');
const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;

/** Pages: doc file -> man page names (the first is the page, the rest link to it). */
export const PAGES = {
  'dmthin.md': ['dmthin'],
  'check.md': ['dmthin-check'],
  'dump.md': ['dmthin-dump'],
  'restore.md': ['dmthin-restore'],
  'repair.md': ['dmthin-repair'],
  'doctor.md': ['dmthin-doctor'],
  'ls.md': ['dmthin-ls'],
  'delta.md': ['dmthin-delta'],
  'diff.md': ['dmthin-diff'],
  'rmap.md': ['dmthin-rmap'],
  'metadata-size.md': ['dmthin-metadata-size'],
  'trim.md': ['dmthin-trim'],
  'shrink.md': ['dmthin-shrink'],
  'report.md': ['dmthin-report'],
  'export.md': ['dmthin-export'],
  'metadata.md': ['dmthin-metadata'],
  'docker.md': ['dmthin-docker'],
  'containerd.md': ['dmthin-containerd'],
  'lvm.md': ['dmthin-lvm'],
  'recovery.md': ['dmthin-undelete'],
  'send.md': ['dmthin-send', 'dmthin-receive'],
  'pool.md': ['dmthin-pool', 'dmthin-thin', 'dmthin-snap'],
};

const SUMMARY = {
  dmthin: 'tools for Linux device-mapper thin provisioning metadata',
  'dmthin-check': 'check thin-pool metadata, as thin_check',
  'dmthin-dump': 'print thin-pool metadata as XML, text or JSON, as thin_dump',
  'dmthin-restore': 'write thin-pool metadata from XML, as thin_restore',
  'dmthin-repair': 'rebuild damaged thin-pool metadata, as thin_repair',
  'dmthin-doctor': 'what is wrong with a pool, what is at risk, what to do',
  'dmthin-diff': 'what changed between two thin devices, in files, as docker diff',
  'dmthin-ls': 'list thin devices and their space, as thin_ls',
  'dmthin-delta': 'what changed between two thin devices, as thin_delta',
  'dmthin-rmap': 'which thin devices use given data blocks, as thin_rmap',
  'dmthin-metadata-size': 'estimate the metadata size a pool needs',
  'dmthin-trim': 'give back the data blocks a pool does not use',
  'dmthin-shrink': "make a pool's data device smaller, crash-safe",
  'dmthin-report': 'a self-contained HTML report of a pool',
  'dmthin-export': "rebuild a thin device's bytes offline",
  'dmthin-metadata': 'pack and unpack metadata (thin_metadata_pack format)',
  'dmthin-docker': 'Docker devicemapper forensics',
  'dmthin-lvm': 'LVM thin pools read from disk images, without lvm2',
  'dmthin-undelete': 'find, export and re-add deleted thin devices',
  'dmthin-send': 'thin devices as verified streams: send and receive',
  'dmthin-pool': 'live thin pools, thin volumes and snapshots',
};

/** Escapes text for roff: backslashes, and a leading dot or quote. */
function esc(s) {
  return (
    s
      .replace(/\\/g, '\\e')
      .replace(/-/g, '\\-')
      // biome-ignore lint/suspicious/noControlCharactersInRegex: the range is every non-ASCII character
      .replace(/[^\x00-\x7f]/gu, (c) => `\\[u${c.codePointAt(0).toString(16).toUpperCase().padStart(4, '0')}]`)
  );
}

function inline(s) {
  let t = esc(s);
  t = t.replace(/`([^`]+)`/g, '\\fB$1\\fR');
  t = t.replace(/\*\*([^*]+)\*\*/g, '\\fB$1\\fR');
  t = t.replace(/\[([^\]]+)\]\(([^)]+)\)/g, '$1');
  return t.replace(/^([.'])/, '\\&$1');
}

export function toRoff(markdown, name) {
  const lines = markdown.split('\n');
  const r = [`.TH ${name.toUpperCase()} 1 "" "dmthin ${version}" "dmthin manual"`];
  let para = [];
  const flush = () => {
    if (para.length) r.push('.PP', inline(para.join(' ')));
    para = [];
  };
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    if (i === 0 && l.startsWith('# ')) {
      r.push('.SH NAME', `${esc(name)} \\- ${esc(SUMMARY[name] ?? l.slice(2))}`);
      continue;
    }
    if (l.startsWith('```')) {
      flush();
      r.push('.PP', '.RS', '.nf');
      for (i++; i < lines.length && !lines[i].startsWith('```'); i++) r.push(esc(lines[i]).replace(/^([.'])/, '\\&$1'));
      r.push('.fi', '.RE');
      continue;
    }
    if (/^#{1,2} /.test(l)) {
      flush();
      r.push(`.SH ${inline(l.replace(/^#+ /, '').toUpperCase())}`);
      continue;
    }
    if (l.startsWith('### ')) {
      flush();
      r.push(`.SS ${inline(l.slice(4))}`);
      continue;
    }
    if (l.startsWith('    ') && para.length === 0) {
      r.push('.PP', '.RS', '.nf');
      for (; i < lines.length && (lines[i].startsWith('    ') || lines[i] === ''); i++) r.push(esc(lines[i].slice(4)).replace(/^([.'])/, '\\&$1'));
      i--;
      r.push('.fi', '.RE');
      continue;
    }
    if (l.startsWith('|')) {
      flush();
      // A table: each row as "first cell" followed by the rest, indented.
      for (; i < lines.length && lines[i].startsWith('|'); i++) {
        const cells = lines[i]
          .split('|')
          .slice(1, -1)
          .map((c) => c.trim());
        if (cells.every((c) => /^:?-+:?$/.test(c))) continue;
        r.push('.TP', inline(cells[0]), inline(cells.slice(1).join(' \u2014 ')));
      }
      i--;
      continue;
    }
    const item = /^(\s*)(?:[-*]|\d+\.) (.*)$/.exec(l);
    if (item) {
      flush();
      let text = item[2];
      while (i + 1 < lines.length && /^\s{2,}\S/.test(lines[i + 1]) && !/^\s*(?:[-*]|\d+\.) /.test(lines[i + 1])) text += ` ${lines[++i].trim()}`;
      r.push('.IP \\(bu 2', inline(text));
      continue;
    }
    if (l.trim() === '') flush();
    else para.push(l.trim());
  }
  flush();
  return `${r.join('\n')}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  mkdirSync(out, { recursive: true });
  for (const [doc, names] of Object.entries(PAGES)) {
    const [page, ...aliases] = names;
    writeFileSync(join(out, `${page}.1`), toRoff(readFileSync(join(docs, doc), 'utf8'), page));
    for (const a of aliases) writeFileSync(join(out, `${a}.1`), `.so man1/${page}.1\n`);
  }
}
