/**
 * The contrastive projection head g (method.md §4 "Contrastive"): a 2-layer MLP d→d→d with ReLU, as in
 * SimCLR. It exists only during training (the outfit embedding z is what the model keeps), so its
 * weights live in the run's optimizer.safetensors next to the optimizer slots, not in the model
 * weights.
 */
import type { Graph, Value } from '../engine/graph.js';
import type { WeightOf } from '../model/backbones.js';
import { glorotUniform, heUniform, ParamTable, zerosInit } from '../model/params.js';
import type { Rng } from '../rng.js';

export class ProjectionHead {
  readonly params = new ParamTable();

  constructor(
    readonly dim: number,
    rng: Rng,
  ) {
    this.params.create('cl_head.fc1.weight', [dim, dim], 'projection', heUniform(rng, dim));
    this.params.create('cl_head.fc1.bias', [dim], 'projection', zerosInit);
    this.params.create('cl_head.fc2.weight', [dim, dim], 'projection', glorotUniform(rng, dim, dim));
    this.params.create('cl_head.fc2.bias', [dim], 'projection', zerosInit);
  }

  /** g(z): [n, d] → [n, d]. */
  forward(g: Graph, w: WeightOf, z: Value): Value {
    const h = g.relu(g.linear(z, w('cl_head.fc1.weight'), w('cl_head.fc1.bias')));
    return g.linear(h, w('cl_head.fc2.weight'), w('cl_head.fc2.bias'));
  }

  /** Restores weights saved under their names; names and shapes must match. */
  load(tensors: Map<string, { shape: readonly number[]; data: Float32Array | Int32Array }>, file: string): void {
    for (const p of this.params.list()) {
      const t = tensors.get(p.name);
      if (!t || t.shape.join(',') !== p.shape.join(',') || !(t.data instanceof Float32Array)) {
        throw new Error(`${file}: projection head weight '${p.name}' missing or mis-shaped`);
      }
      p.data.set(t.data);
    }
  }
}
