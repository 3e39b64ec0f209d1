/**
 * Named, seeded trainable weights. Every weight of the model is a `tf.Variable` created here, with
 * its safetensors key as its name (architecture.md §4.2) and its values drawn from an explicit Rng,
 * so the same seed gives the same model on every backend.
 */
import { tf, type Rank, type Tensor, type Variable } from '../engine/tf.js';
import type { Rng } from '../rng.js';

/** The parameter groups reported separately (method.md §7 "parameter counts"). */
export type ParamGroup = 'backbone' | 'itemEmbedding' | 'setTransformer' | 'projection' | 'anchors';

export interface NamedVariable {
  /** The safetensors key, e.g. `encoder.sab1.q.weight`. */
  readonly name: string;
  readonly variable: Variable;
  readonly group: ParamGroup;
}

/** Fills `n` values; called once per weight. */
export type Initializer = (n: number, shape: readonly number[]) => Float32Array;

let storeCounter = 0;

/**
 * The weights of one model. tfjs keeps a global registry of variable names, so a teacher and a
 * student with the same keys would collide: each store prefixes the registry name with its own id,
 * while `name` stays the plain safetensors key.
 */
export class ParamStore {
  private readonly entries: NamedVariable[] = [];
  private readonly byName = new Map<string, number>();
  readonly scope: string;

  constructor() {
    storeCounter += 1;
    this.scope = `outfitrec${storeCounter}`;
  }

  create<R extends Rank>(name: string, shape: number[], group: ParamGroup, init: Initializer): Variable<R> {
    if (this.byName.has(name)) throw new Error(`ParamStore: duplicate weight name '${name}'`);
    const values = init(shape.reduce((a, b) => a * b, 1), shape);
    const variable = makeVariable(values, shape, this.registryName(name)) as Variable<R>;
    this.byName.set(name, this.entries.length);
    this.entries.push({ name, variable, group });
    return variable;
  }

  /** Swaps the variable behind `name` for one of a new shape (anchors grow when users are added). */
  replace<R extends Rank>(name: string, values: Float32Array, shape: number[]): Variable<R> {
    const index = this.byName.get(name);
    if (index === undefined) throw new Error(`ParamStore: no weight named '${name}'`);
    const old = this.entries[index];
    old.variable.dispose();
    const variable = makeVariable(values, shape, this.registryName(name)) as Variable<R>;
    this.entries[index] = { name, variable, group: old.group };
    return variable;
  }

  list(): NamedVariable[] {
    return [...this.entries];
  }

  dispose(): void {
    for (const e of this.entries) e.variable.dispose();
    this.entries.length = 0;
    this.byName.clear();
  }

  private registryName(name: string): string {
    return `${this.scope}/${name}`;
  }
}

function makeVariable(values: Float32Array, shape: number[], registryName: string): Variable {
  const initial: Tensor = tf.tensor(values, shape, 'float32');
  const variable = tf.variable(initial, true, registryName);
  initial.dispose();
  return variable;
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
