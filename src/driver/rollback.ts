/**
 * Undo steps for multi-step operations: each step that succeeds pushes
 * how to take it back; if a later step fails, they run in reverse, so a
 * failure leaves no new loop device, dm device or file behind.
 */
export class Rollback {
  private readonly steps: Array<{ what: string; undo: () => Promise<void> | void }> = [];

  push(what: string, undo: () => Promise<void> | void): void {
    this.steps.push({ what, undo });
  }

  /** Forget the steps: the operation succeeded. */
  commit(): void {
    this.steps.length = 0;
  }

  /** Undoes everything, newest first; returns what could not be undone. */
  async run(): Promise<string[]> {
    const failed: string[] = [];
    for (let s = this.steps.pop(); s !== undefined; s = this.steps.pop()) {
      try {
        await s.undo();
      } catch (e) {
        failed.push(`${s.what}: ${(e as Error).message}`);
      }
    }
    return failed;
  }

  /** Runs `body`; on failure undoes and rethrows, naming anything left behind. */
  static async guard<T>(body: (rb: Rollback) => Promise<T>): Promise<T> {
    const rb = new Rollback();
    try {
      const r = await body(rb);
      rb.commit();
      return r;
    } catch (e) {
      const left = await rb.run();
      if (left.length > 0 && e instanceof Error) {
        e.message += `\n  and rolling back failed, left behind: ${left.join('; ')}`;
      }
      throw e;
    }
  }
}
