/**
 * Named, seeded trainable weights. Every weight of the model is a Float32Array created here under
 * its safetensors key (docs/architecture.md "Run folders"), with values drawn from an explicit
 * Rng, so the same seed gives the same model. Graphs read weights as inputs fed from this table;
 * the optimizer updates the arrays in place.
 */
import type { Rng } from '../rng.js';

/** The parameter groups reported separately (method.md §7 "parameter counts"). */
export type ParamGroup = 'backbone' | 'itemEmbedding' | 'setTransformer' | 'projection' | 'anchors';

export interface Param {
  /** The safetensors key, e.g. `encoder.sab1.q.weight`. */
  readonly name: string;
  readonly shape: readonly number[];
  readonly group: ParamGroup;
  /** Row-major values, updated in place by training. */
  data: Float32Array;
}

/** Fills `n` values; called once per weight. */
export type Initializer = (n: number, shape: readonly number[]) => Float32Array;

export class ParamTable {
  private readonly entries: Param[] = [];
  private readonly byName = new Map<string, Param>();

  create(name: string, shape: number[], group: ParamGroup, init: Initializer): Param {
    if (this.byName.has(name)) throw new Error(`ParamTable: duplicate weight name '${name}'`);
    const param: Param = { name, shape: [...shape], group, data: init(shape.reduce((a, b) => a * b, 1), shape) };
    this.entries.push(param);
    this.byName.set(name, param);
    return param;
  }

  get(name: string): Param {
    const p = this.byName.get(name);
    if (!p) throw new Error(`ParamTable: no weight named '${name}'`);
    return p;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** Swaps the values (and shape) behind `name`: anchors grow when users are added. */
  replace(name: string, data: Float32Array, shape: number[]): Param {
    const old = this.get(name);
    const param: Param = { name, shape: [...shape], group: old.group, data };
    this.entries[this.entries.indexOf(old)] = param;
    this.byName.set(name, param);
    return param;
  }

  list(): Param[] {
    return [...this.entries];
  }
}

export const zerosInit: Initializer = (n) => new Float32Array(n);

export const onesInit: Initializer = (n) => new Float32Array(n).fill(1);

export function uniformInit(rng: Rng, limit: number): Initializer {
  return (n) => {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = rng.uniform(-limit, limit);
    return out;
  };
}

export function normalInit(rng: Rng, std: number): Initializer {
  return (n) => {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = rng.normal() * std;
    return out;
  };
}

/** Kaiming/He uniform for weights followed by a ReLU: U(±sqrt(6 / fanIn)). */
export function heUniform(rng: Rng, fanIn: number): Initializer {
  return uniformInit(rng, Math.sqrt(6 / fanIn));
}

/** Glorot/Xavier uniform for linear maps: U(±sqrt(6 / (fanIn + fanOut))). */
export function glorotUniform(rng: Rng, fanIn: number, fanOut: number): Initializer {
  return uniformInit(rng, Math.sqrt(6 / (fanIn + fanOut)));
}
