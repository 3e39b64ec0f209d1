/**
 * Reduce-on-plateau learning-rate schedule on validation AUC (method.md §4 "Training loop"; LPAE's
 * `ReduceLROnPlateau(mode=max, factor 0.5, patience 10, cooldown 10)`), with PyTorch's semantics:
 * an epoch is an improvement when `metric > best · (1 + threshold)`; after `patience` epochs
 * without one the rate is multiplied by `factor` (floored at `minLr`) and `cooldown` epochs follow
 * during which bad epochs are not counted. Its whole state is plain JSON so `--resume` restores it.
 */
import type { PlateauState } from '../runs/folder.js';

export type { PlateauState };

export interface PlateauOptions {
  /** Multiplier applied on a plateau (0 < factor < 1). */
  factor: number;
  /** Epochs without improvement tolerated before reducing. */
  patience: number;
  /** Epochs after a reduction during which bad epochs are not counted. */
  cooldown: number;
  /** Relative improvement needed to count as better. */
  threshold: number;
  /** The rate never goes below this. */
  minLr: number;
}


export class ReduceOnPlateau {
  private state: PlateauState;

  constructor(
    private readonly opts: PlateauOptions,
    initialLr: number,
    state?: PlateauState,
  ) {
    this.state = state ? { ...state } : { lr: initialLr, best: null, badEpochs: 0, cooldownLeft: 0, reductions: 0 };
  }

  get lr(): number {
    return this.state.lr;
  }

  /** Feeds one epoch's validation metric (higher is better); returns the learning rate for the next epoch. */
  step(metric: number): number {
    const s = this.state;
    if (s.best === null || metric > s.best * (1 + this.opts.threshold)) {
      s.best = metric;
      s.badEpochs = 0;
    } else {
      s.badEpochs++;
    }
    if (s.cooldownLeft > 0) {
      s.cooldownLeft--;
      s.badEpochs = 0;
    }
    if (s.badEpochs > this.opts.patience) {
      const next = Math.max(s.lr * this.opts.factor, this.opts.minLr);
      if (next < s.lr) s.reductions++;
      s.lr = next;
      s.cooldownLeft = this.opts.cooldown;
      s.badEpochs = 0;
    }
    return s.lr;
  }

  snapshot(): PlateauState {
    return { ...this.state };
  }
}
