/**
 * Item backbones (method.md §2.1): item input → feature vector f of size F = `outDim`. Each backbone is
 * a list of layers (data, so that parameter counts come from the same list the forward pass runs,
 * without allocating AlexNet's 57 M weights just to count them).
 *
 * No max-pooling anywhere: wasm's MaxPool gradient is wrong when a whole window is negative
 * (architecture.md §5), so the places where AlexNet max-pools use a 3×3/2 average pool instead
 * (same parameters, gradient correct on every backend).
 */
import { avgPool, conv2d, dense, globalAvgPool } from '../engine/layers.js';
import { tf, type Rank, type Tensor, type Tensor1D, type Tensor2D, type Tensor4D, type Variable } from '../engine/tf.js';
import type { Rng } from '../rng.js';
import type { BackboneConfig } from './config.js';
import { glorotUniform, heUniform, zerosInit, type ParamStore } from './params.js';

/** One step of a backbone. Weight names are `backbone.<name>.weight|bias`. */
export type BackboneLayer =
  | { op: 'dense'; name: string; inDim: number; outDim: number; relu: boolean }
  | { op: 'conv'; name: string; kernel: number; stride: number; inCh: number; outCh: number; relu: boolean; padTo?: number }
  | { op: 'avgPool'; size: number; stride: number }
  | { op: 'globalAvgPool' };

export interface BackboneDescription {
  readonly kind: BackboneConfig['kind'];
  /** 'vector' = [u, inputDim] features; 'image' = [u, H, W, 3] NHWC images. */
  readonly input: 'vector' | 'image';
  readonly layers: BackboneLayer[];
  /** F. */
  readonly outDim: number;
  readonly paramCount: number;
}

const CONVNET_BASE_CHANNELS = 32;
const ALEXNET_FC_WIDTH = 4096;
const ALEXNET_FC6_KERNEL = 6;

function scaled(base: number, width: number): number {
  return Math.max(1, Math.round(base * width));
}

/** The layer list of a backbone configuration (method.md §2.1). */
export function describeBackbone(cfg: BackboneConfig): BackboneDescription {
  const layers: BackboneLayer[] = [];
  let input: 'vector' | 'image' = 'image';
  switch (cfg.kind) {
    case 'features': {
      input = 'vector';
      const inDim = cfg.inputDim;
      if (inDim === undefined) throw new Error('describeBackbone: features backbone needs inputDim');
      // width 0: the precomputed vector is the feature (LPAE's frozen ResNet-34 setup)
      if (cfg.width > 0) {
        const hidden = scaled(cfg.outDim, cfg.width);
        layers.push({ op: 'dense', name: 'fc1', inDim, outDim: hidden, relu: true });
        layers.push({ op: 'dense', name: 'fc2', inDim: hidden, outDim: cfg.outDim, relu: false });
      }
      break;
    }
    case 'convnet': {
      // the PyTorch reference step's CNN (bench/README.md): conv3x3 w, conv3x3/2 2w, conv3x3/2 4w, GAP, linear
      const c = scaled(CONVNET_BASE_CHANNELS, cfg.width);
      layers.push({ op: 'conv', name: 'conv1', kernel: 3, stride: 1, inCh: 3, outCh: c, relu: true });
      layers.push({ op: 'conv', name: 'conv2', kernel: 3, stride: 2, inCh: c, outCh: 2 * c, relu: true });
      layers.push({ op: 'conv', name: 'conv3', kernel: 3, stride: 2, inCh: 2 * c, outCh: 4 * c, relu: true });
      layers.push({ op: 'globalAvgPool' });
      layers.push({ op: 'dense', name: 'fc', inDim: 4 * c, outDim: cfg.outDim, relu: false });
      break;
    }
    case 'alexnet': {
      // FHN's AlexNet with fc6/fc7 as convolutions and global average pooling (method.md §2.1).
      // The width multiplier narrows fc6 only (4096 → 1024 at 0.25 = "AlexNet-small"); fc7 maps to
      // F = outDim, so outDim 4096 at width 1 is AlexNet-large layer for layer.
      const fc = scaled(ALEXNET_FC_WIDTH, cfg.width);
      layers.push({ op: 'conv', name: 'conv1', kernel: 11, stride: 4, inCh: 3, outCh: 64, relu: true });
      layers.push({ op: 'avgPool', size: 3, stride: 2 });
      layers.push({ op: 'conv', name: 'conv2', kernel: 5, stride: 1, inCh: 64, outCh: 192, relu: true });
      layers.push({ op: 'avgPool', size: 3, stride: 2 });
      layers.push({ op: 'conv', name: 'conv3', kernel: 3, stride: 1, inCh: 192, outCh: 384, relu: true });
      layers.push({ op: 'conv', name: 'conv4', kernel: 3, stride: 1, inCh: 384, outCh: 256, relu: true });
      layers.push({ op: 'conv', name: 'conv5', kernel: 3, stride: 1, inCh: 256, outCh: 256, relu: true });
      layers.push({ op: 'avgPool', size: 3, stride: 2 });
      // fc6 is a 'valid' 6×6 conv as in AlexNet; maps smaller than 6×6 (small images) are
      // zero-padded up to 6×6 first, so any input size works
      layers.push({
        op: 'conv',
        name: 'fc6',
        kernel: ALEXNET_FC6_KERNEL,
        stride: 1,
        inCh: 256,
        outCh: fc,
        relu: true,
        padTo: ALEXNET_FC6_KERNEL,
      });
      layers.push({ op: 'conv', name: 'fc7', kernel: 1, stride: 1, inCh: fc, outCh: cfg.outDim, relu: true });
      layers.push({ op: 'globalAvgPool' });
      break;
    }
  }
  let paramCount = 0;
  for (const l of layers) {
    if (l.op === 'dense') paramCount += l.inDim * l.outDim + l.outDim;
    else if (l.op === 'conv') paramCount += l.kernel * l.kernel * l.inCh * l.outCh + l.outCh;
  }
  const outDim = cfg.kind === 'features' && cfg.width === 0 ? (cfg.inputDim as number) : cfg.outDim;
  return { kind: cfg.kind, input, layers, outDim, paramCount };
}

/** Zero-pads H and W symmetrically (extra row/column at the end) up to at least `size`. */
function padSpatialTo(x: Tensor4D, size: number): Tensor4D {
  const [, h, w] = x.shape;
  if (h >= size && w >= size) return x;
  const ph = Math.max(0, size - h);
  const pw = Math.max(0, size - w);
  return tf.pad(x, [
    [0, 0],
    [Math.floor(ph / 2), ph - Math.floor(ph / 2)],
    [Math.floor(pw / 2), pw - Math.floor(pw / 2)],
    [0, 0],
  ]);
}

interface LayerWeights {
  weight: Variable;
  bias: Variable<Rank.R1>;
}

export class Backbone {
  readonly description: BackboneDescription;
  private readonly weights = new Map<string, LayerWeights>();

  constructor(cfg: BackboneConfig, store: ParamStore, rng: Rng) {
    this.description = describeBackbone(cfg);
    for (const l of this.description.layers) {
      if (l.op === 'dense') {
        const init = l.relu ? heUniform(rng, l.inDim) : glorotUniform(rng, l.inDim, l.outDim);
        this.weights.set(l.name, {
          weight: store.create(`backbone.${l.name}.weight`, [l.inDim, l.outDim], 'backbone', init),
          bias: store.create(`backbone.${l.name}.bias`, [l.outDim], 'backbone', zerosInit),
        });
      } else if (l.op === 'conv') {
        const fanIn = l.kernel * l.kernel * l.inCh;
        this.weights.set(l.name, {
          // tfjs filter layout [kh, kw, in, out]
          weight: store.create(`backbone.${l.name}.weight`, [l.kernel, l.kernel, l.inCh, l.outCh], 'backbone', heUniform(rng, fanIn)),
          bias: store.create(`backbone.${l.name}.bias`, [l.outCh], 'backbone', zerosInit),
        });
      }
    }
  }

  get outDim(): number {
    return this.description.outDim;
  }

  get paramCount(): number {
    return this.description.paramCount;
  }

  /** True when the backbone has no weights (the feature is the input vector itself). */
  get isIdentity(): boolean {
    return this.description.layers.length === 0;
  }

  /**
   * [u, inputDim] vectors or [u, H, W, 3] normalised images → [u, F]. Inputs are data, never
   * trained, so the first layer skips its input gradient where the layer allows it.
   */
  forward(inputs: Tensor): Tensor2D {
    const d = this.description;
    if (d.input === 'vector' && inputs.rank !== 2) {
      throw new Error(`backbone '${d.kind}' takes [u, inputDim] vectors, got shape [${inputs.shape}]`);
    }
    if (d.input === 'image' && (inputs.rank !== 4 || inputs.shape[3] !== 3)) {
      throw new Error(`backbone '${d.kind}' takes [u, H, W, 3] images, got shape [${inputs.shape}]`);
    }
    return tf.tidy(() => {
      if (this.isIdentity) return tf.clone(inputs) as Tensor2D;
      let x: Tensor = inputs;
      let first = true;
      for (const l of d.layers) {
        if (l.op === 'dense') {
          const w = this.weights.get(l.name) as LayerWeights;
          x = dense(x as Tensor2D, w.weight as Tensor2D, w.bias as Tensor1D, l.relu ? 'relu' : 'linear', { inputGrad: !first });
        } else if (l.op === 'conv') {
          const w = this.weights.get(l.name) as LayerWeights;
          const input = l.padTo === undefined ? (x as Tensor4D) : padSpatialTo(x as Tensor4D, l.padTo);
          // 'same' keeps tiny images alive through stride 4; fc6 (padTo) is AlexNet's 'valid'
          const pad = l.padTo === undefined ? 'same' : 'valid';
          x = conv2d(input, w.weight as Tensor4D, w.bias as Tensor1D, l.stride, pad, l.relu ? 'relu' : 'linear');
        } else if (l.op === 'avgPool') {
          x = avgPool(x as Tensor4D, l.size, l.stride, 'same');
        } else {
          x = globalAvgPool(x as Tensor4D);
        }
        if (l.op === 'dense' || l.op === 'conv') first = false;
      }
      return x as Tensor2D;
    });
  }
}
