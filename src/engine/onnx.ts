/**
 * Graph → ONNX ModelProto bytes, through the `onnx-proto` package (ONNX's own schema compiled for
 * protobufjs). Opset 17, IR version 8: every op the builder emits has a CPU kernel in ONNX
 * Runtime at that opset (LayerNormalization is new in 17; ScatterND's `reduction` in 16).
 * The same bytes serve training sessions, inference sessions and `outfitrec export`.
 */
import onnxProto from 'onnx-proto';
import { onnxTypeCode, type AttrValue, type ConstTensor, type Graph, type Value } from './graph.js';

const { onnx } = onnxProto;

export const OPSET = 17;
const IR_VERSION = 8;

const ATTR = onnx.AttributeProto.AttributeType;

function tensorProto(name: string, t: ConstTensor): onnxProto.onnx.ITensorProto {
  const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  // rawData is little-endian; typed arrays are little-endian on every platform Node.js runs on
  return { name, dims: [...t.dims], dataType: onnxTypeCode(t.dtype), rawData: bytes.slice() };
}

function attribute(name: string, v: AttrValue): onnxProto.onnx.IAttributeProto {
  if (typeof v === 'number') return { name, type: ATTR.INT, i: v };
  if (typeof v === 'string') return { name, type: ATTR.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: ATTR.INTS, ints: v };
  if ('float' in v) return { name, type: ATTR.FLOAT, f: v.float };
  if ('floats' in v) return { name, type: ATTR.FLOATS, floats: v.floats };
  return { name, type: ATTR.TENSOR, t: tensorProto('', v.tensor) };
}

function valueInfo(v: Value): onnxProto.onnx.IValueInfoProto {
  return {
    name: v.name,
    type: {
      tensorType: {
        elemType: onnxTypeCode(v.dtype),
        shape: { dim: v.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

export interface ModelOptions {
  /** Graph name, kept in the model (shows in Netron and onnx.checker output). */
  name?: string;
  /**
   * Values of the graph's weight inputs, written into the model as initialisers (an exported,
   * self-contained model) instead of being left as inputs to feed.
   */
  bake?: (name: string) => ConstTensor | undefined;
  /** Free-form key/value metadata (the export's description, version). */
  metadata?: Record<string, string>;
}

/** Serialises `g` to ONNX ModelProto bytes. Inputs and outputs keep their value names. */
export function toOnnx(g: Graph, opts: ModelOptions = {}): Uint8Array {
  if (g.outputs.length === 0) throw new Error('toOnnx: the graph has no outputs');
  const baked = new Map<string, ConstTensor>();
  for (const i of g.inputs) {
    const t = i.param ? opts.bake?.(i.value.name) : undefined;
    if (t) baked.set(i.value.name, t);
  }
  const model = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    producerName: 'outfitrec',
    opsetImport: [{ domain: '', version: OPSET }],
    metadataProps: Object.entries(opts.metadata ?? {}).map(([key, value]) => ({ key, value })),
    graph: {
      name: opts.name ?? 'outfitrec',
      input: g.inputs.filter((i) => !baked.has(i.value.name)).map((i) => valueInfo(i.value)),
      output: g.outputs.map(valueInfo),
      initializer: [...g.initializers.map((i) => tensorProto(i.value.name, i.tensor)), ...[...baked].map(([name, t]) => tensorProto(name, t))],
      node: g.nodes.map((n, k) => ({
        name: `${n.op}_${k}`,
        opType: n.op,
        input: n.inputs.map((v) => (v ? v.name : '')),
        output: n.outputs.map((v) => v.name),
        attribute: Object.entries(n.attrs).map(([key, v]) => attribute(key, v)),
      })),
    },
  });
  return onnx.ModelProto.encode(model).finish();
}
