/**
 * Reverse-mode automatic differentiation over a `Graph` (docs/architecture.md "Engine").
 *
 * `gradients(g, loss, wrt)` appends the backward pass to the same graph: one rule per op, each
 * written with the builder's ops, so the forward and backward passes run in one ONNX Runtime call.
 * Broadcasting is undone by summing over the broadcast axes (`unbroadcast`); a gather's gradient is
 * a scatter-add into zeros; a convolution's input gradient is a transposed convolution and its
 * filter gradient a convolution with the batch and channel axes swapped. Every rule is checked
 * against central finite differences in test/engine/autodiff.test.ts.
 */
import { type Graph, type GraphNode, type Value } from './graph.js';

type Rule = (g: Graph, node: GraphNode, dy: Value, need: (v: Value | null) => boolean) => Array<Value | null>;

/** Sums `dy` over the axes along which `x` was broadcast, giving x's shape. */
export function unbroadcast(g: Graph, dy: Value, x: Value): Value {
  const r = dy.shape.length;
  const rx = x.shape.length;
  if (r === rx && dy.shape.every((d, i) => d === x.shape[i])) return dy;
  const axes: number[] = [];
  for (let i = 0; i < r; i++) {
    const j = i - (r - rx);
    if (j < 0 || (x.shape[j] === 1 && dy.shape[i] !== 1)) axes.push(i);
  }
  const summed = axes.length > 0 ? g.reduceSum(dy, axes, true) : dy;
  return summed.shape.length === rx && summed.shape.every((d, i) => d === x.shape[i]) ? summed : g.reshapeLike(summed, x);
}

function input(node: GraphNode, i: number): Value {
  const v = node.inputs[i];
  if (!v) throw new Error(`${node.op}: missing input ${i}`);
  return v;
}

const rules: Record<string, Rule> = {
  Add: (g, n, dy) => [unbroadcast(g, dy, input(n, 0)), unbroadcast(g, dy, input(n, 1))],
  Sum: (g, n, dy, need) => n.inputs.map((v) => (v && need(v) ? unbroadcast(g, dy, v) : null)),
  Sub: (g, n, dy, need) => [unbroadcast(g, dy, input(n, 0)), need(n.inputs[1]) ? unbroadcast(g, g.neg(dy), input(n, 1)) : null],
  Mul: (g, n, dy, need) => {
    const [a, b] = [input(n, 0), input(n, 1)];
    return [need(a) ? unbroadcast(g, g.mul(dy, b), a) : null, need(b) ? unbroadcast(g, g.mul(dy, a), b) : null];
  },
  Div: (g, n, dy, need) => {
    const [a, b] = [input(n, 0), input(n, 1)];
    const y = n.outputs[0];
    return [need(a) ? unbroadcast(g, g.div(dy, b), a) : null, need(b) ? unbroadcast(g, g.neg(g.div(g.mul(dy, y), b)), b) : null];
  },
  Neg: (g, _n, dy) => [g.neg(dy)],
  Relu: (g, n, dy) => [g.where(g.greater(n.outputs[0], 0), dy, 0)],
  Exp: (g, n, dy) => [g.mul(dy, n.outputs[0])],
  Log: (g, n, dy) => [g.div(dy, input(n, 0))],
  Sqrt: (g, n, dy) => [g.div(g.mul(dy, 0.5), n.outputs[0])],
  Reciprocal: (g, n, dy) => {
    const y = n.outputs[0];
    return [g.neg(g.mul(dy, g.mul(y, y)))];
  },
  Sigmoid: (g, n, dy) => {
    const y = n.outputs[0];
    return [g.mul(dy, g.mul(y, g.sub(1, y)))];
  },
  Identity: (_g, n, dy) => (n.meta?.stopGradient ? [null] : [dy]),
  Where: (g, n, dy, need) => {
    const [c, a, b] = [input(n, 0), input(n, 1), input(n, 2)];
    return [null, need(a) ? unbroadcast(g, g.where(c, dy, 0), a) : null, need(b) ? unbroadcast(g, g.where(c, 0, dy), b) : null];
  },
  MatMul: (g, n, dy, need) => {
    const [a, b] = [input(n, 0), input(n, 1)];
    const da = need(a) ? unbroadcast(g, g.matmul(dy, g.transposeLast(b)), a) : null;
    let db: Value | null = null;
    if (need(b)) {
      if (b.shape.length === 2 && a.shape.length > 2) {
        // a weight shared by every batch row: flatten the batch instead of summing per-row products
        const k = a.shape[a.shape.length - 1];
        const cols = dy.shape[dy.shape.length - 1];
        const rows = a.shape.slice(0, -1).every((d) => typeof d === 'number') ? a.shape.slice(0, -1).reduce((p: number, q) => p * (q as number), 1) : 'rows';
        db = g.matmul(g.transposeLast(g.reshape(a, [rows, k])), g.reshape(dy, [rows, cols]));
      } else db = unbroadcast(g, g.matmul(g.transposeLast(a), dy), b);
    }
    return [da, db];
  },
  ReduceSum: (g, n, dy) => {
    const x = input(n, 0);
    const keep = n.attrs.keepdims === 1;
    const expanded = keep ? dy : g.unsqueeze(dy, n.meta?.axes as number[]);
    return [g.expand(expanded, x), null];
  },
  Softmax: (g, n, dy) => {
    const y = n.outputs[0];
    const axis = n.meta?.axis as number;
    return [g.mul(y, g.sub(dy, g.reduceSum(g.mul(dy, y), [axis], true)))];
  },
  LayerNormalization: (g, n, dy, need) => {
    const [x, gamma, beta] = [input(n, 0), input(n, 1), input(n, 2)];
    const [, mean, invStd] = n.outputs;
    const xhat = g.mul(g.sub(x, mean), invStd);
    let dx: Value | null = null;
    if (need(x)) {
      const dxhat = g.mul(dy, gamma);
      const centred = g.sub(dxhat, g.reduceMean(dxhat, [-1], true));
      dx = g.mul(invStd, g.sub(centred, g.mul(xhat, g.reduceMean(g.mul(dxhat, xhat), [-1], true))));
    }
    return [dx, need(gamma) ? unbroadcast(g, g.mul(dy, xhat), gamma) : null, need(beta) ? unbroadcast(g, dy, beta) : null];
  },
  Reshape: (g, n, dy) => [g.reshapeLike(dy, input(n, 0)), null],
  Unsqueeze: (g, n, dy) => [g.reshapeLike(dy, input(n, 0)), null],
  Squeeze: (g, n, dy) => [g.reshapeLike(dy, input(n, 0)), null],
  Transpose: (g, n, dy) => {
    const perm = n.attrs.perm as number[];
    const inverse = new Array<number>(perm.length);
    perm.forEach((p, i) => (inverse[p] = i));
    return [g.transpose(dy, inverse)];
  },
  Concat: (g, n, dy, need) => {
    const axis = n.meta?.axis as number;
    let offset = 0;
    return n.inputs.map((v) => {
      const size = (v as Value).shape[axis] as number;
      const part = need(v) ? g.slice(dy, axis, offset, offset + size) : null;
      offset += size;
      return part;
    });
  },
  Slice: (g, n, dy) => {
    const x = input(n, 0);
    const { axis, start, end } = n.meta as { axis: number; start: number; end: number };
    const r = x.shape.length;
    const pads = new Array<number>(2 * r).fill(0);
    pads[axis] = start;
    pads[r + axis] = (x.shape[axis] as number) - end;
    return [g.pad(dy, pads), null, null, null];
  },
  Pad: (g, n, dy) => {
    const x = input(n, 0);
    const r = x.shape.length;
    const pads = n.meta?.pads as number[];
    let out = dy;
    for (let a = 0; a < r; a++) {
      if (pads[a] !== 0 || pads[r + a] !== 0) out = g.slice(out, a, pads[a], pads[a] + (x.shape[a] as number));
    }
    return [out, null];
  },
  Expand: (g, n, dy) => [unbroadcast(g, dy, input(n, 0)), null],
  Gather: (g, n, dy, need) => {
    const [x, idx] = [input(n, 0), input(n, 1)];
    if (!need(x)) return [null, null];
    const rest = x.shape.slice(1);
    const flatIdx = idx.shape.length === 1 ? idx : g.reshape(idx, ['k']);
    const flatDy = idx.shape.length === 1 ? dy : g.reshape(dy, ['k', ...rest]);
    return [g.scatterAddRows(g.zerosLike(x), flatIdx, flatDy), null];
  },
  Conv: (g, n, dy, need) => {
    const [x, w] = [input(n, 0), input(n, 1)];
    const b = n.inputs[2] ?? null;
    const strides = n.attrs.strides as [number, number];
    const pads = n.attrs.pads as [number, number, number, number];
    const group = n.attrs.group as number;
    const dil = n.attrs.dilations as number[];
    if (dil[0] !== 1 || dil[1] !== 1) throw new Error('Conv backward: dilated convolutions are not supported');
    const [, , h, wd] = x.shape as number[];
    const dx = need(x) ? g.convTranspose(dy, w, { strides, pads, group, outHW: [h, wd] }) : null;
    let dw: Value | null = null;
    if (need(w)) {
      if (group !== 1) throw new Error('Conv backward: filter gradients of grouped convolutions are not supported');
      const [, , kh, kw] = w.shape as number[];
      // dW[o,c] = Σ_n x[n,c] ⋆ dy[n,o]: a convolution over the swapped batch/channel axes, the
      // forward stride becoming the dilation
      const full = g.conv(g.transpose(x, [1, 0, 2, 3]), g.transpose(dy, [1, 0, 2, 3]), null, { strides: [1, 1], pads, dilations: strides });
      const cropped = g.slice(g.slice(full, 2, 0, kh), 3, 0, kw);
      dw = g.transpose(cropped, [1, 0, 2, 3]);
    }
    const db = b && need(b) ? g.reduceSum(dy, [0, 2, 3]) : null;
    return b ? [dx, dw, db] : [dx, dw];
  },
};

/**
 * Gradients of the scalar `loss` with respect to each of `wrt`, as new values of `g`. A value that
 * does not influence the loss gets a zero gradient of its own shape.
 */
export function gradients(g: Graph, loss: Value, wrt: readonly Value[]): Value[] {
  if (loss.shape.length !== 0) throw new Error(`gradients: the loss must be a scalar, got shape [${loss.shape}]`);
  // values that depend on some wrt value (through differentiable edges)
  const depends = new Set<number>(wrt.map((v) => v.id));
  const nodes = [...g.nodes];
  for (const node of nodes) {
    if (node.meta?.stopGradient || node.meta?.noGradient) continue;
    if (node.inputs.some((v) => v !== null && depends.has(v.id))) for (const o of node.outputs) depends.add(o.id);
  }
  const grads = new Map<number, Value>();
  grads.set(loss.id, g.constant([1], [], g.float));
  const need = (v: Value | null): boolean => v !== null && depends.has(v.id) && (v.dtype === 'float32' || v.dtype === 'float64');
  for (let i = nodes.length - 1; i >= 0; i--) {
    const node = nodes[i];
    const dy = grads.get(node.outputs[0].id);
    if (!dy || !node.inputs.some((v) => need(v))) continue;
    const rule = rules[node.op];
    if (!rule) throw new Error(`gradients: no backward rule for ${node.op}`);
    const dxs = rule(g, node, dy, need);
    node.inputs.forEach((v, j) => {
      const dx = dxs[j];
      if (!v || !dx || !need(v)) return;
      const prev = grads.get(v.id);
      grads.set(v.id, prev ? g.add(prev, dx) : dx);
    });
  }
  return wrt.map((v) => grads.get(v.id) ?? g.zerosLike(v));
}
