/**
 * The report for a person, in the order they need it: what is wrong, what
 * is at risk, what to do next. Every doctor (raw, LVM, Docker, live)
 * prints its report through this.
 */
import { deviceLabel } from './diagnose.js';
import { kitRoleText } from './kit-contents.js';
import type { DoctorReport } from './report.js';
import { lostHoldsSummary, lostPartText, spanText } from '../lost-holds.js';

/** Candidates listed one by one up to this many. */
const MAX_LISTED = 20;

export function reportText(r: DoctorReport): string {
  const out: string[] = [];
  if (r.healthy) {
    out.push(`pool ${r.pool.name}: healthy`);
    for (const p of r.problems) out.push(`  note: ${p.summary}`);
    return `${out.join('\n')}\n`;
  }
  out.push(`pool ${r.pool.name}: ${r.problems.filter((p) => p.severity !== 'info').length} problem(s)`, '', 'What is wrong:');
  const order = { fatal: 0, non_fatal: 1, info: 2 } as const;
  for (const p of [...r.problems].sort((a, b) => order[a.severity] - order[b.severity])) {
    out.push(`  [${p.severity}] ${p.code}: ${p.summary}`);
    if (p.followers?.length)
      out.push(`      it also causes: ${p.followers.map((f) => `${f.count} ${f.code}`).join(', ')} (follow from it; not separate problems)`);
    out.push(`      fix: ${p.fix}`);
  }
  const lossy = r.devices.filter((d) => d.lost.length > 0);
  if (lossy.length > 0 || r.candidates.length > 0) {
    out.push('', 'What is at risk:');
    for (const d of lossy) {
      const bytes = d.lost.reduce((a, x) => a + x.length, 0);
      const written = d.lostMappedBytes !== undefined && d.lostMappedBytes < bytes ? ` (${d.lostMappedBytes} of them were written: which, nothing says)` : '';
      out.push(
        `  ${deviceLabel(d)}: ${bytes} bytes read as zeros after the best repair${written}; ${d.recoveredFromOlder} mappings came back from older copies:`,
      );
      out.push(`      ${d.lost.map(spanText).join(', ')}`);
      if (d.lostToEnd)
        out.push(
          "      and the last range runs on to the device's end, whose size the pool's metadata does not record (LVM and Docker do: their doctors give it whole; an export needs --size)",
        );
      if (d.lostHolds?.length) {
        out.push(`      they held (from the filesystem, as far as it survives): ${lostHoldsSummary(d.lostHolds)}`);
        for (const h of d.lostHolds.slice(0, MAX_LISTED)) out.push(`        ${lostPartText(h)}`);
        if (d.lostHolds.length > MAX_LISTED) out.push(`        and ${d.lostHolds.length - MAX_LISTED} more (--json lists them)`);
      } else if (d.lostHoldsUnknown) out.push(`      what they held cannot be told: ${d.lostHoldsUnknown}`);
    }
    if (r.candidates.length > 0) {
      out.push(`  ${r.candidates.length} candidate data block(s), counted used and mapped by nothing, may hold lost data; a repair frees them:`);
      for (const c of r.candidates.slice(0, MAX_LISTED)) {
        out.push(`    data block ${c.dataBlock} (byte ${c.offset} of the data device)${c.matches.length === 0 ? ': no match' : ''}`);
        for (const m of c.matches) out.push(`      may be thin device ${m.deviceId} at byte ${m.offset} (inferred): ${m.evidence}`);
      }
      if (r.candidates.length > MAX_LISTED) out.push(`    and ${r.candidates.length - MAX_LISTED} more (--json lists them all)`);
    }
  }
  if (r.plan.length > 0) {
    out.push('', 'What to do next:');
    r.plan.forEach((s, i) => {
      out.push(`  ${i + 1}. ${s.step}`);
      if (s.command) for (const line of s.command.split('\n')) out.push(`       ${line}`);
    });
  }
  if (r.kit) {
    out.push('', `Kit written to ${r.kit.dir}:`, '  report.json (this report), plan.txt (the steps)');
    // Each role said once, at its first file: a kit of many candidate blocks lists them, not the words again.
    const said = new Set<string>();
    for (const f of r.kit.files) {
      const what = said.has(f.role) ? '' : `: ${kitRoleText(f.role)}`;
      said.add(f.role);
      out.push(`  ${f.path} (${f.role}${f.deviceId !== undefined ? `, thin device ${f.deviceId}` : ''})${what}`);
    }
  }
  return `${out.join('\n')}\n`;
}

/** The plan alone, numbered, for plan.txt. */
export function planText(r: DoctorReport): string {
  if (r.plan.length === 0) return `pool ${r.pool.name}: healthy; nothing to do\n`;
  const out = [`pool ${r.pool.name}: the steps, in order`, ''];
  r.plan.forEach((s, i) => {
    out.push(`${i + 1}. ${s.step}`);
    if (s.command) for (const line of s.command.split('\n')) out.push(`   ${line}`);
    out.push('');
  });
  return out.join('\n');
}
