// Runs a shell script on a real dm-thin kernel for the fixture scripts: here
// when this kernel has dm-thin (as root), otherwise in the VM harness.
// Returns the scratch directory the script's output went to.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export async function runOnKernel(root, script, prefix, args = []) {
  const { hostHasDmThin, makeScratch, runInVm } = await import(join(root, 'dist', 'src', 'vm', 'vm.js'));
  const scratch = makeScratch(prefix);
  const out = join(scratch, 'out');
  if (hostHasDmThin()) {
    execFileSync('sh', [script, root, out, ...args], { stdio: 'inherit' });
    return out;
  }
  const sh = join(scratch, 'run.sh');
  writeFileSync(sh, `exec sh "${script}" "${root}" "${out}" ${args.map((a) => `"${a}"`).join(' ')} 2>&1\n`);
  const r = await runInVm(sh, {
    cwd: root,
    scratch,
    timeoutMs: 900_000,
    onLine: (l) => {
      if (!/^\[\s*\d+\.\d+\]/.test(l)) console.log(l);
    },
  });
  if (r.exitCode !== 0) throw new Error(`${script} failed in the VM (exit ${r.exitCode})`);
  return out;
}
