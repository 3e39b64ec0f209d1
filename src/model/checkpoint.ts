/**
 * Weights on disk in the safetensors format (architecture.md §4.2), readable by PyTorch tools:
 *   8-byte little-endian header length N | N bytes of JSON header, space-padded to a multiple of 8 |
 *   raw little-endian tensor data.
 * The header maps each name to `{ dtype, shape, data_offsets: [begin, end] }` (offsets relative to
 * the data section) plus an optional `__metadata__` of string values. Tensors are stored in tfjs
 * layout (dense [in, out], conv [kh, kw, in, out]); the metadata says so.
 *
 * Writes are atomic; reads check everything (sizes, offsets, no gaps or overlaps, names and shapes
 * against the model) before touching a single weight, and report problems as DataError naming the
 * file and the tensor.
 */
import { readFileSync } from 'node:fs';
import { endianness } from 'node:os';
import { DataError } from '../errors.js';
import { writeFileAtomic } from '../util/fs.js';
import type { OutfitModel } from './outfit-model.js';

export type SafetensorsDtype = 'F32' | 'I32';

export interface SafetensorsTensor {
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  readonly data: Float32Array | Int32Array;
}

export interface SafetensorsContents {
  /** In file order. */
  readonly tensors: Map<string, SafetensorsTensor>;
  readonly metadata: Record<string, string>;
}

const LITTLE_ENDIAN_HOST = endianness() === 'LE';
const WEIGHTS_LAYOUT = 'dense [in,out]; conv [kh,kw,in,out]; anchors.user [users,K,d]';

function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Serialises tensors and string metadata into safetensors bytes (header part, then one part per tensor). */
export function encodeSafetensors(
  tensors: Map<string, SafetensorsTensor> | Record<string, SafetensorsTensor>,
  metadata: Record<string, string> = {},
): Uint8Array[] {
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  const parts: Uint8Array[] = [];
  for (const [name, t] of entries) {
    if (name === '__metadata__') throw new Error('safetensors: "__metadata__" is reserved and cannot name a tensor');
    const count = elementCount(t.shape);
    if (t.data.length !== count) throw new Error(`safetensors: tensor '${name}' has ${t.data.length} values for shape [${t.shape}]`);
    const expected = t.dtype === 'F32' ? Float32Array : Int32Array;
    if (!(t.data instanceof expected)) throw new Error(`safetensors: tensor '${name}' is ${t.dtype} but its data is not a ${expected.name}`);
    const bytes = toLittleEndianBytes(t.data);
    header[name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes.length] };
    offset += bytes.length;
    parts.push(bytes);
  }
  let json = JSON.stringify(header);
  // pad with spaces so the data section starts 8-byte aligned (8 + N ≡ 0 mod 8)
  json += ' '.repeat((8 - (Buffer.byteLength(json, 'utf8') % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const prefix = new Uint8Array(8 + headerBytes.length);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  prefix.set(headerBytes, 8);
  return [prefix, ...parts];
}

/** Parses safetensors bytes; `file` names the source in errors. */
export function decodeSafetensors(bytes: Uint8Array, file: string): SafetensorsContents {
  const fail = (detail: string): never => {
    throw new DataError(file, undefined, `not a valid safetensors file: ${detail}`);
  };
  if (bytes.length < 8) fail(`${bytes.length} bytes is too short for the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(bytes.length - 8)) fail(`header length ${headerLength} exceeds the file's ${bytes.length - 8} bytes after it`);
  const dataStart = 8 + Number(headerLength);
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + 8, Number(headerLength)).toString('utf8'));
  } catch (err) {
    fail(`header is not JSON (${(err as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header is not a JSON object');
  const dataLength = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const spans: Array<{ name: string; begin: number; end: number }> = [];
  const tensors = new Map<string, SafetensorsTensor>();
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('__metadata__ is not an object');
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`__metadata__.${k} is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    const entry = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof entry !== 'object' || entry === null) fail(`tensor '${name}': entry is not an object`);
    if (entry.dtype !== 'F32' && entry.dtype !== 'I32') fail(`tensor '${name}': unsupported dtype ${JSON.stringify(entry.dtype)} (F32 and I32 are read)`);
    const shape = entry.shape;
    if (!Array.isArray(shape) || !shape.every((s) => Number.isInteger(s) && s >= 0)) fail(`tensor '${name}': bad shape ${JSON.stringify(shape)}`);
    const offsets = entry.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isInteger(o) && o >= 0)) {
      fail(`tensor '${name}': bad data_offsets ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as number[];
    const count = elementCount(shape as number[]);
    if (end - begin !== count * 4) fail(`tensor '${name}': data_offsets [${begin}, ${end}] hold ${end - begin} bytes, shape [${shape}] needs ${count * 4}`);
    if (end > dataLength) fail(`tensor '${name}': data ends at byte ${end} but the data section has ${dataLength} bytes (truncated file?)`);
    spans.push({ name, begin, end });
    const data = fromLittleEndianBytes(bytes.subarray(dataStart + begin, dataStart + end), entry.dtype as SafetensorsDtype);
    tensors.set(name, { dtype: entry.dtype as SafetensorsDtype, shape: shape as number[], data });
  }
  // the data section must be covered exactly: no gaps, no overlaps, nothing trailing
  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (const s of spans) {
    if (s.begin !== cursor) fail(`tensor '${s.name}' starts at byte ${s.begin} of the data section, expected ${cursor} (gap or overlap)`);
    cursor = s.end;
  }
  if (cursor !== dataLength) fail(`data section has ${dataLength} bytes but the tensors cover ${cursor}`);
  return { tensors, metadata };
}

export function writeSafetensors(
  path: string,
  tensors: Map<string, SafetensorsTensor> | Record<string, SafetensorsTensor>,
  metadata: Record<string, string> = {},
): void {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

export function readSafetensors(path: string): SafetensorsContents {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new DataError(path, undefined, `cannot read weights: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return decodeSafetensors(bytes, path);
}

/** Named float32 arrays → a safetensors file (atomic write). */
export function saveNamedTensors(
  path: string,
  named: ReadonlyArray<{ name: string; shape: readonly number[]; data: Float32Array | Int32Array }>,
  metadata: Record<string, string> = {},
): void {
  const tensors = new Map<string, SafetensorsTensor>();
  for (const { name, shape, data } of named) {
    if (tensors.has(name)) throw new Error(`saveNamedTensors: duplicate name '${name}'`);
    tensors.set(name, { dtype: data instanceof Float32Array ? 'F32' : 'I32', shape, data });
  }
  writeSafetensors(path, tensors, metadata);
}

/** A safetensors file → named arrays, in file order. */
export function loadNamedTensors(path: string): { tensors: Array<{ name: string } & SafetensorsTensor>; metadata: Record<string, string> } {
  const contents = readSafetensors(path);
  return { tensors: [...contents.tensors.entries()].map(([name, t]) => ({ name, ...t })), metadata: contents.metadata };
}

/** Every model weight under its key (atomic write). Metadata values must be strings. */
export function saveWeights(path: string, model: OutfitModel, metadata: Record<string, string> = {}): void {
  const tensors = new Map<string, SafetensorsTensor>();
  for (const p of model.namedParams()) tensors.set(p.name, { dtype: 'F32', shape: p.shape, data: p.data });
  writeSafetensors(path, tensors, { format: 'outfitrec', layout: WEIGHTS_LAYOUT, ...metadata });
}

/**
 * Loads every weight of `model` from `path`. The file must hold exactly the model's names with the
 * model's shapes; otherwise a DataError lists what is missing, extra or mis-shaped and no weight
 * is changed. Returns the file's metadata.
 */
export function loadWeights(path: string, model: OutfitModel): Record<string, string> {
  const contents = readSafetensors(path);
  const params = model.namedParams();
  const problems: string[] = [];
  const modelNames = new Set(params.map((v) => v.name));
  const missing = params.filter((v) => !contents.tensors.has(v.name)).map((v) => v.name);
  const extra = [...contents.tensors.keys()].filter((name) => !modelNames.has(name));
  if (missing.length > 0) problems.push(`missing tensors: ${missing.join(', ')}`);
  if (extra.length > 0) problems.push(`tensors the model does not have: ${extra.join(', ')}`);
  for (const p of params) {
    const t = contents.tensors.get(p.name);
    if (!t) continue;
    if (t.dtype !== 'F32') problems.push(`tensor '${p.name}' is ${t.dtype}, expected F32`);
    else if (t.shape.length !== p.shape.length || t.shape.some((s, i) => s !== p.shape[i])) {
      problems.push(`tensor '${p.name}' has shape [${t.shape}] in the file but [${p.shape}] in the model`);
    }
  }
  if (problems.length > 0) throw new DataError(path, undefined, `weights do not fit the model: ${problems.join('; ')}`);
  for (const p of params) p.data.set((contents.tensors.get(p.name) as SafetensorsTensor).data as Float32Array);
  return contents.metadata;
}

function toLittleEndianBytes(data: Float32Array | Int32Array): Uint8Array {
  if (LITTLE_ENDIAN_HOST) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) {
    if (data instanceof Float32Array) view.setFloat32(i * 4, data[i], true);
    else view.setInt32(i * 4, data[i], true);
  }
  return out;
}

function fromLittleEndianBytes(bytes: Uint8Array, dtype: SafetensorsDtype): Float32Array | Int32Array {
  const count = bytes.length / 4;
  if (LITTLE_ENDIAN_HOST) {
    // copy: the source offset need not be 4-byte aligned
    const copy = new Uint8Array(bytes.length);
    copy.set(bytes);
    return dtype === 'F32' ? new Float32Array(copy.buffer) : new Int32Array(copy.buffer);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = dtype === 'F32' ? new Float32Array(count) : new Int32Array(count);
  for (let i = 0; i < count; i++) out[i] = dtype === 'F32' ? view.getFloat32(i * 4, true) : view.getInt32(i * 4, true);
  return out;
}
