/**
 * The contrastive projection head g (method.md §4 "Contrastive"): a 2-layer MLP d→d→d with ReLU, as in
 * SimCLR. It exists only during training (the outfit embedding z is what the model keeps), so its
 * weights live in the run's optimizer.safetensors next to the optimizer slots, not in the model
 * weights.
 */
import { dense } from '../engine/layers.js';
import { tf, type Tensor, type Tensor1D, type Tensor2D, type Variable } from '../engine/tf.js';
import { glorotUniform, heUniform, ParamStore, zerosInit } from '../model/params.js';
import type { Rng } from '../rng.js';

export class ProjectionHead {
  private readonly store = new ParamStore();
  private readonly w1: Variable;
  private readonly b1: Variable;
  private readonly w2: Variable;
  private readonly b2: Variable;

  constructor(
    readonly dim: number,
    rng: Rng,
  ) {
    this.w1 = this.store.create('cl_head.fc1.weight', [dim, dim], 'projection', heUniform(rng, dim));
    this.b1 = this.store.create('cl_head.fc1.bias', [dim], 'projection', zerosInit);
    this.w2 = this.store.create('cl_head.fc2.weight', [dim, dim], 'projection', glorotUniform(rng, dim, dim));
    this.b2 = this.store.create('cl_head.fc2.bias', [dim], 'projection', zerosInit);
  }

  /** g(z): [n, d] → [n, d]. */
  forward(z: Tensor2D): Tensor2D {
    return tf.tidy(() => {
      const h = dense(z, this.w1 as Tensor2D, this.b1 as Tensor1D, 'relu');
      return dense(h, this.w2 as Tensor2D, this.b2 as Tensor1D, 'linear');
    });
  }

  variables(): Variable[] {
    return this.store.list().map((v) => v.variable);
  }

  /** Weights under their checkpoint names. */
  named(): Array<{ name: string; tensor: Tensor }> {
    return this.store.list().map((v) => ({ name: v.name, tensor: v.variable }));
  }

  /** Restores weights saved by `named()`; names and shapes must match. */
  load(tensors: Map<string, Tensor>, file: string): void {
    for (const { name, variable } of this.store.list()) {
      const t = tensors.get(name);
      if (!t || t.shape.join(',') !== variable.shape.join(',')) {
        throw new Error(`${file}: projection head weight '${name}' missing or mis-shaped`);
      }
      variable.assign(t);
    }
  }

  dispose(): void {
    this.store.dispose();
  }
}
