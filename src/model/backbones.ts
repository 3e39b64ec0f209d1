/**
 * Item backbones (method.md §2.1): item input → feature vector f of size F = `outDim`. Each backbone is
 * a list of layers (data, so that parameter counts come from the same list the forward pass runs,
 * without allocating AlexNet's 57 M weights just to count them).
 *
 * No max-pooling: the places where AlexNet max-pools use a 3×3/2 average pool instead (the first
 * engine's max-pool gradient was wrong; kept so that trained runs keep their meaning).
 */
import type { Graph, Value } from '../engine/graph.js';
import type { Rng } from '../rng.js';
import type { BackboneConfig } from './config.js';
import { glorotUniform, heUniform, zerosInit, type ParamTable } from './params.js';

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

/** TensorFlow's 'same' padding along one axis: output ceil(size/stride), the odd pixel at the end. */
function samePads(size: number, kernel: number, stride: number): [number, number] {
  const out = Math.ceil(size / stride);
  const total = Math.max(0, (out - 1) * stride + kernel - size);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

/** Reads a weight of the graph being built by its safetensors key. */
export type WeightOf = (name: string) => Value;

export class Backbone {
  readonly description: BackboneDescription;

  constructor(cfg: BackboneConfig, params: ParamTable, rng: Rng) {
    this.description = describeBackbone(cfg);
    for (const l of this.description.layers) {
      if (l.op === 'dense') {
        const init = l.relu ? heUniform(rng, l.inDim) : glorotUniform(rng, l.inDim, l.outDim);
        params.create(`backbone.${l.name}.weight`, [l.inDim, l.outDim], 'backbone', init);
        params.create(`backbone.${l.name}.bias`, [l.outDim], 'backbone', zerosInit);
      } else if (l.op === 'conv') {
        const fanIn = l.kernel * l.kernel * l.inCh;
        // filter layout [kh, kw, in, out], as the run folders have always stored it
        params.create(`backbone.${l.name}.weight`, [l.kernel, l.kernel, l.inCh, l.outCh], 'backbone', heUniform(rng, fanIn));
        params.create(`backbone.${l.name}.bias`, [l.outCh], 'backbone', zerosInit);
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

  /** [u, inputDim] vectors or [u, H, W, 3] normalised images → f [u, F]. */
  forward(g: Graph, w: WeightOf, inputs: Value): Value {
    const d = this.description;
    if (d.input === 'vector' && inputs.shape.length !== 2) throw new Error(`backbone '${d.kind}' takes [u, inputDim] vectors, got [${inputs.shape}]`);
    if (d.input === 'image' && (inputs.shape.length !== 4 || inputs.shape[3] !== 3)) throw new Error(`backbone '${d.kind}' takes [u, H, W, 3] images, got [${inputs.shape}]`);
    // images arrive NHWC (how the cache stores them); ONNX convolutions are NCHW
    let x = d.input === 'image' ? g.transpose(inputs, [0, 3, 1, 2]) : inputs;
    for (const l of d.layers) {
      if (l.op === 'dense') {
        x = g.linear(x, w(`backbone.${l.name}.weight`), w(`backbone.${l.name}.bias`));
        if (l.relu) x = g.relu(x);
      } else if (l.op === 'conv') {
        const [h, wd] = [x.shape[2] as number, x.shape[3] as number];
        if (l.padTo !== undefined && (h < l.padTo || wd < l.padTo)) {
          // AlexNet's fc6 is a 'valid' 6×6 conv: smaller maps are zero-padded up to 6×6 first
          const ph = Math.max(0, l.padTo - h);
          const pw = Math.max(0, l.padTo - wd);
          x = g.pad(x, [0, 0, Math.floor(ph / 2), Math.floor(pw / 2), 0, 0, ph - Math.floor(ph / 2), pw - Math.floor(pw / 2)]);
        }
        const [ph, pw] = [x.shape[2] as number, x.shape[3] as number];
        const [top, bottom] = l.padTo === undefined ? samePads(ph, l.kernel, l.stride) : [0, 0];
        const [left, right] = l.padTo === undefined ? samePads(pw, l.kernel, l.stride) : [0, 0];
        const filter = g.transpose(w(`backbone.${l.name}.weight`), [3, 2, 0, 1]); // → [out, in, kh, kw]
        x = g.conv(x, filter, w(`backbone.${l.name}.bias`), { strides: [l.stride, l.stride], pads: [top, left, bottom, right] });
        if (l.relu) x = g.relu(x);
      } else if (l.op === 'avgPool') {
        x = averagePoolSame(g, x, l.size, l.stride);
      } else {
        x = g.reduceMean(x, [2, 3]);
      }
    }
    return x;
  }
}

/**
 * size×size average pool with 'same' padding that, like TensorFlow's, averages over the window's
 * real pixels only: a per-channel convolution with a ones filter, scaled by a constant map of
 * 1/(pixels in each window). Written with Conv so that its gradient is Conv's.
 */
export function averagePoolSame(g: Graph, x: Value, size: number, stride: number): Value {
  const [c, h, w] = [x.shape[1] as number, x.shape[2] as number, x.shape[3] as number];
  const [top, bottom] = samePads(h, size, stride);
  const [left, right] = samePads(w, size, stride);
  const ones = g.constant(new Float32Array(c * size * size).fill(1), [c, 1, size, size], x.dtype);
  const sum = g.conv(x, ones, null, { strides: [stride, stride], pads: [top, left, bottom, right], group: c });
  const [ho, wo] = [sum.shape[2] as number, sum.shape[3] as number];
  const inv = new Float32Array(ho * wo);
  for (let i = 0; i < ho; i++) {
    for (let j = 0; j < wo; j++) {
      const rows = Math.min(h, i * stride - top + size) - Math.max(0, i * stride - top);
      const cols = Math.min(w, j * stride - left + size) - Math.max(0, j * stride - left);
      inv[i * wo + j] = 1 / (rows * cols);
    }
  }
  return g.mul(sum, g.constant(inv, [1, 1, ho, wo], x.dtype));
}
