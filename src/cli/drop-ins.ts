/** dmthin run as a thin-provisioning-tools program (thin_check, thin_dump, ...). */
import { VERSION } from './version.js';

/**
 * Invoked through a symlink named like a thin-provisioning-tools program
 * (thin_check, thin_dump, ...), dmthin behaves as that program: LVM runs
 * its configured thin_check as `thin_check -q --clear-needs-check-flag DEV`.
 * Each maps to a command path and, where the names differ, its options.
 */
export const DROP_INS: Record<string, { command: string[]; options?: Record<string, string | null> }> = {
  thin_check: { command: ['check'] },
  thin_dump: { command: ['dump'] },
  thin_restore: { command: ['restore'] },
  thin_repair: { command: ['repair'] },
  thin_ls: { command: ['ls'], options: { '-o': '--format' } },
  thin_delta: { command: ['delta'] },
  thin_rmap: { command: ['rmap'] },
  thin_metadata_size: { command: ['metadata-size'] },
  thin_trim: { command: ['trim'], options: { '--metadata-dev': '--metadata', '--data-dev': '--data', '--pool-inactive': null } },
  thin_metadata_pack: { command: ['metadata', 'pack'] },
  thin_metadata_unpack: { command: ['metadata', 'unpack'] },
};

/** The drop-in name dmthin was started as, if any. */
export function dropInName(argv: readonly string[]): string | undefined {
  const name = ((argv[1] ?? '').split('/').pop() ?? '').replace(/\.m?js$/, '');
  return DROP_INS[name] ? name : undefined;
}

/** argv rewritten for a drop-in: its command path first, its option names translated. */
export function asDropIn(argv: readonly string[]): string[] {
  const name = dropInName(argv);
  if (!name) return [...argv];
  const d = DROP_INS[name];
  const rest: string[] = [];
  for (const a of argv.slice(2)) {
    const [opt, value] = a.split(/=(.*)/s, 2) as [string, string | undefined];
    if (d.options && opt in d.options) {
      const to = d.options[opt];
      if (to) rest.push(value === undefined ? to : `${to}=${value}`);
    } else {
      rest.push(a);
    }
  }
  if (rest.includes('-V') || rest.includes('--version')) {
    process.stdout.write(`${VERSION}\n`);
    process.exit(0);
  }
  return [argv[0], argv[1], ...d.command, ...rest];
}
