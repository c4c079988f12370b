/** A TTY progress line for the block scan; nothing when stderr is not a terminal. */
export function scanProgress(quiet: boolean | undefined): ((done: number, total: number) => void) | undefined {
  if (quiet || !process.stderr.isTTY) return undefined;
  return (done, total) => {
    process.stderr.write(`\rscanning metadata blocks: ${Math.floor((100 * done) / Math.max(total, 1))}%`);
    if (done >= total) process.stderr.write('\n');
  };
}
