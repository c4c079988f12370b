/**
 * The manual pages and the completion script are made from docs/ and the
 * command tree: every command has a page that says its exit status, every
 * page is valid roff, and completion knows every command.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dmthin } from '../support/cli.js';
import { FINDING_CODES } from '../../src/thin/check/check.js';
import { projectRoot, scratch, skipReason } from '../support/env.js';

const man = join(projectRoot, 'dist', 'man');

/** Top-level commands as `dmthin --help` lists them. */
function commands(): string[] {
  const help = dmthin('--help').stdout;
  const section = help.slice(help.indexOf('Commands:'));
  return [...section.matchAll(/^ {2}([a-z][a-z-]*)/gm)].map((m) => m[1]).filter((c) => c !== 'help');
}

describe('manual pages', () => {
  it('every command has a page generated from docs/, with an exit status section', () => {
    const cmds = commands();
    expect(cmds).toEqual(
      expect.arrayContaining(['check', 'dump', 'restore', 'repair', 'export', 'metadata', 'pool', 'thin', 'snap', 'docker', 'lvm', 'completion']),
    );
    for (const c of cmds) {
      const page = c === 'completion' ? 'dmthin.1' : `dmthin-${c}.1`;
      expect(existsSync(join(man, page)), `${page} for dmthin ${c}`).toBe(true);
    }
    for (const f of readdirSync(join(projectRoot, 'docs'))) {
      const text = readFileSync(join(projectRoot, 'docs', f), 'utf8');
      if (!text.startsWith('# dmthin')) continue; // design notes, not command pages
      expect(text, f).toMatch(/^## Exit status$/m);
    }
    const top = readFileSync(join(man, 'dmthin.1'), 'utf8');
    expect(top).toMatch(/^\.SH EXIT STATUS$/m);
    expect(top).toMatch(/\\fB2\\fR bad usage/);
  });

  it('docs/check.md documents every finding code check can give, and no other', () => {
    const page = readFileSync(join(projectRoot, 'docs', 'check.md'), 'utf8');
    const codes = page.slice(page.indexOf('## Finding codes'), page.indexOf('## Exit status'));
    const documented = [...codes.matchAll(/^\| `([a-z-]+)` \|/gm)].map((m) => m[1]);
    expect([...documented].sort()).toEqual([...FINDING_CODES].sort());
  });

  it.skipIf(skipReason(spawnSync('groff', ['--version']).status === 0, 'groff missing: the manual pages are not rendered'))(
    'every page renders with groff without a warning',
    () => {
      for (const f of readdirSync(man)) {
        const text = readFileSync(join(man, f), 'utf8');
        if (text.startsWith('.so ')) {
          expect(existsSync(join(man, text.slice('.so man1/'.length).trim())), f).toBe(true);
          continue;
        }
        const r = spawnSync('groff', ['-man', '-Tutf8', '-ww', '-z', join(man, f)], { encoding: 'utf8' });
        expect(r.stderr, f).toBe('');
        expect(r.status).toBe(0);
      }
      const text = execFileSync('groff', ['-man', '-Tascii', '-P', '-cbou', join(man, 'dmthin-restore.1')], { encoding: 'utf8' });
      expect(text).toMatch(/NAME\s+dmthin-restore - write thin-pool metadata from XML/);
      expect(text).toMatch(/EXIT STATUS/);
    },
  );
});

describe('bash completion', () => {
  it.skipIf(skipReason(spawnSync('bash', ['--version']).status === 0, 'bash missing: completion not tried'))(
    'completes commands, subcommands and options from the command tree',
    () => {
      const tmp = scratch();
      try {
        const script = tmp.path('dmthin.bash');
        writeFileSync(script, dmthin('completion', 'bash').stdout);
        const complete = (...words: string[]): string[] =>
          execFileSync(
            'bash',
            [
              '-c',
              `source "$0"; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _dmthin; printf '%s\\n' "\${COMPREPLY[@]}"`,
              script,
            ],
            { encoding: 'utf8' },
          )
            .split('\n')
            .filter(Boolean)
            .sort();
        expect(complete('dmthin', 'met')).toEqual(['metadata', 'metadata-size']);
        expect(complete('dmthin', 'metadata', '')).toEqual(['pack', 'resize', 'unpack']);
        expect(complete('dmthin', 'dump', '--re')).toEqual(['--repair']);
        expect(complete('dmthin', 'pool', 'create', '--data-s')).toEqual(['--data-size']);
        expect(dmthin('completion', 'zsh')).toMatchObject({ code: 2 });
      } finally {
        tmp.cleanup();
      }
    },
  );
});
