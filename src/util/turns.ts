/**
 * First come, first served turns for at most `limit` holders at a time (a FIFO semaphore).
 *
 * Serving uses it for composition (docs/architecture.md §6): ONNX Runtime runs a session on the
 * event loop's thread, so compositions in flight at once share one core by interleaving their beam
 * stages, and every one of them finishes late; taking turns finishes the first ones first at the
 * same throughput, and keeps the set of live compositions (their memory, the garbage collector's
 * work) bounded under load.
 */
export class Turns {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(readonly limit: number) {
    if (!(Number.isInteger(limit) && limit >= 1)) throw new Error(`Turns: limit must be a positive integer, got ${limit}`);
  }

  /** Resolves when it is the caller's turn, with the function that ends it (call it exactly once). */
  acquire(): Promise<() => void> {
    return new Promise((resolve) => {
      const start = (): void => {
        this.active++;
        let done = false;
        resolve(() => {
          if (done) return;
          done = true;
          this.active--;
          this.waiting.shift()?.();
        });
      };
      if (this.active < this.limit) start();
      else this.waiting.push(start);
    });
  }

  /** Holders now, and callers waiting for a turn. */
  get load(): { active: number; waiting: number } {
    return { active: this.active, waiting: this.waiting.length };
  }
}
