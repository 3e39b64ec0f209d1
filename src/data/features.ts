/**
 * Precomputed item features for the frozen-feature mode (LPAE's ResNet-34 "-nn" setup, method.md §2.1
 * `features` backbone, method.md §6.1 last paragraph): a 2-D little-endian float32 `.npy` matrix plus
 * a names file (one image name per line, row i of the matrix = line i + 1 of the names file).
 */
import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { DataError } from '../errors.js';
import { writeFileAtomic } from '../util/fs.js';
import { throwIfProblems } from './polyvore.js';
import { CATEGORY_NAMES, type Catalog } from './types.js';

export interface FeatureMatrix {
  /** Feature length per item. */
  dim: number;
  /** Image name per row. */
  names: string[];
  /** names.length × dim, row-major. */
  values: Float32Array;
  /** The .npy file it came from, for messages. */
  source?: string;
}

const NPY_MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY
const IO_CHUNK = 1 << 30;
const MAX_MISSING_LISTED = 20;

/** Reads a float32 `.npy` matrix and its names file; DataErrors name the file and what is wrong. */
export function loadFeatureMatrix(npyPath: string, namesPath: string): FeatureMatrix {
  const { rows, dim, values } = readNpyFloat32Matrix(npyPath);
  const names = readNames(namesPath);
  if (names.length !== rows) {
    throw new DataError(namesPath, undefined, `${names.length} names but ${npyPath} has ${rows} rows: one name per matrix row is expected`);
  }
  return { dim, names, values, source: npyPath };
}

function readNames(namesPath: string): string[] {
  const lines = readFileSync(namesPath, 'utf8').split('\n');
  while (lines.length > 0 && lines[lines.length - 1].trim() === '') lines.pop();
  const seen = new Map<string, number>();
  const names = lines.map((l, i) => {
    const name = l.trim();
    if (name === '') throw new DataError(namesPath, i + 1, 'empty name');
    const previous = seen.get(name);
    if (previous !== undefined) throw new DataError(namesPath, i + 1, `duplicate name "${name}" (also on line ${previous + 1})`);
    seen.set(name, i);
    return name;
  });
  return names;
}

/** Parses the `.npy` header (format versions 1–3) and reads the data as float32, row-major. */
export function readNpyFloat32Matrix(path: string): { rows: number; dim: number; values: Float32Array } {
  const fd = openSync(path, 'r');
  try {
    const fileSize = fstatSync(fd).size;
    const pre = Buffer.alloc(12);
    readSync(fd, pre, 0, 12, 0);
    if (fileSize < 10 || !pre.subarray(0, 6).equals(NPY_MAGIC)) throw new DataError(path, undefined, 'not a .npy file (bad magic bytes)');
    const major = pre[6];
    if (major < 1 || major > 3) throw new DataError(path, undefined, `unsupported .npy format version ${major}.${pre[7]}`);
    const headerLen = major === 1 ? pre.readUInt16LE(8) : pre.readUInt32LE(8);
    const headerStart = major === 1 ? 10 : 12;
    const headerBuf = Buffer.alloc(headerLen);
    readSync(fd, headerBuf, 0, headerLen, headerStart);
    const header = headerBuf.toString(major === 3 ? 'utf8' : 'latin1');
    const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
    const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
    const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
    if (descr === undefined || fortran === undefined || shapeText === undefined) throw new DataError(path, undefined, `unreadable .npy header: ${header.trim()}`);
    if (descr !== '<f4' && !(descr === '=f4' && isLittleEndianHost())) {
      throw new DataError(path, undefined, `dtype '${descr}' is not supported: expected little-endian float32 '<f4' (numpy: arr.astype('<f4'))`);
    }
    if (fortran === 'True') throw new DataError(path, undefined, "Fortran (column-major) order is not supported: save a C-order array (numpy: np.ascontiguousarray(arr))");
    const shape = shapeText
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '')
      .map(Number);
    if (shape.length !== 2 || shape.some((d) => !Number.isInteger(d) || d < 0)) {
      throw new DataError(path, undefined, `shape (${shapeText}) is not 2-D: expected (items, dim)`);
    }
    const [rows, dim] = shape;
    const dataStart = headerStart + headerLen;
    const bytes = rows * dim * 4;
    if (fileSize - dataStart !== bytes) {
      throw new DataError(path, undefined, `holds ${fileSize - dataStart} data bytes, shape (${rows}, ${dim}) float32 needs ${bytes}`);
    }
    const values = new Float32Array(rows * dim);
    const view = new Uint8Array(values.buffer);
    let off = 0;
    while (off < bytes) {
      const got = readSync(fd, view, off, Math.min(IO_CHUNK, bytes - off), dataStart + off);
      if (got === 0) throw new DataError(path, undefined, 'file ended early');
      off += got;
    }
    return { rows, dim, values };
  } finally {
    closeSync(fd);
  }
}

function isLittleEndianHost(): boolean {
  return new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
}

/** Image name without a trailing image extension, so `abc.jpg` in one list matches `abc` in another. */
function stem(name: string): string {
  return name.replace(/\.(jpe?g|png)$/i, '');
}

/**
 * Feature rows in the catalog's global id order (n × dim). Names match exactly, else without
 * their image extension. Every item must have a row: the missing ones are listed as DataErrors,
 * each with its category from `categories` (the set's `layout.categories`, method.md §6.5).
 */
export function featuresForCatalog(matrix: FeatureMatrix, catalog: Catalog, categories: readonly string[] = CATEGORY_NAMES): Float32Array {
  const exact = new Map<string, number>();
  const byStem = new Map<string, number>();
  matrix.names.forEach((name, i) => {
    exact.set(name, i);
    byStem.set(stem(name), i);
  });
  const { dim } = matrix;
  const out = new Float32Array(catalog.names.length * dim);
  const missing: number[] = [];
  for (let id = 0; id < catalog.names.length; id++) {
    const name = catalog.names[id];
    const row = exact.get(name) ?? byStem.get(stem(name));
    if (row === undefined) missing.push(id);
    else out.set(matrix.values.subarray(row * dim, (row + 1) * dim), id * dim);
  }
  const source = matrix.source ?? 'feature matrix';
  const errors = missing.slice(0, MAX_MISSING_LISTED).map((id) => {
    const c = catalog.category[id];
    return new DataError(source, undefined, `no feature row for item "${catalog.names[id]}" (${categories[c] ?? c} #${id - catalog.offsets[c]})`);
  });
  if (missing.length > MAX_MISSING_LISTED) errors.push(new DataError(source, undefined, `${missing.length - MAX_MISSING_LISTED} more items without a feature row`));
  throwIfProblems(errors);
  return out;
}

/** Writes a matrix as `.npy` (format 1.0, '<f4', C order) plus its names file, both atomically. */
export function writeFeatureMatrix(npyPath: string, namesPath: string, matrix: FeatureMatrix): void {
  const rows = matrix.names.length;
  if (matrix.values.length !== rows * matrix.dim) {
    throw new RangeError(`writeFeatureMatrix: ${matrix.values.length} values for ${rows} names × dim ${matrix.dim}`);
  }
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${rows}, ${matrix.dim}), }`;
  // The data starts on a 64-byte boundary, as numpy writes it; the header ends with '\n'.
  const unpadded = 10 + header.length + 1;
  header += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const pre = Buffer.alloc(10);
  NPY_MAGIC.copy(pre, 0);
  pre[6] = 1;
  pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  const data = new Uint8Array(matrix.values.buffer, matrix.values.byteOffset, matrix.values.byteLength);
  writeFileAtomic(npyPath, [pre, Buffer.from(header, 'latin1'), data]);
  writeFileAtomic(namesPath, matrix.names.join('\n') + '\n');
}
