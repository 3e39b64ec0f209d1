import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { featuresForCatalog, loadFeatureMatrix, writeFeatureMatrix } from '../../src/data/features.js';
import { loadPolyvoreSet } from '../../src/data/polyvore.js';
import { DataError, DataErrors } from '../../src/errors.js';

const FIXTURE = new URL('../fixtures/fhn-mini', import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), 'outfitrec-features-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** A hand-built .npy file: magic, version, header length, the header dict, then the data bytes. */
function npyBytes(dict: string, data: Uint8Array, version = 1): Buffer {
  const pre = version === 1 ? 10 : 12;
  let header = dict;
  header += ' '.repeat((64 - ((pre + header.length + 1) % 64)) % 64) + '\n';
  const head = Buffer.alloc(pre);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]).copy(head);
  head[6] = version;
  if (version === 1) head.writeUInt16LE(header.length, 8);
  else head.writeUInt32LE(header.length, 8);
  return Buffer.concat([head, Buffer.from(header, 'latin1'), data]);
}

function f32(values: number[]): Uint8Array {
  return new Uint8Array(new Float32Array(values).buffer);
}

function writeNames(path: string, names: string[]): void {
  writeFileSync(path, names.join('\n') + '\n');
}

describe('feature matrices (.npy + names)', () => {
  it('round-trips through writeFeatureMatrix and loadFeatureMatrix', () => {
    const npy = join(scratch, 'rt.npy');
    const names = join(scratch, 'rt.txt');
    const values = new Float32Array([0.5, -1.25, 3, 1e-7, 42, -0]);
    writeFeatureMatrix(npy, names, { dim: 3, names: ['a.jpg', 'b.jpg'], values });
    const bytes = readFileSync(npy);
    assert.equal(bytes.readUInt16LE(8) + 10, 128); // data starts on a 64-byte boundary
    assert.match(bytes.toString('latin1', 10, 128), /^\{'descr': '<f4', 'fortran_order': False, 'shape': \(2, 3\), \} *\n$/);
    const m = loadFeatureMatrix(npy, names);
    assert.equal(m.dim, 3);
    assert.deepEqual(m.names, ['a.jpg', 'b.jpg']);
    assert.deepEqual(m.values, values);
  });

  it('reads format version 2 headers', () => {
    const npy = join(scratch, 'v2.npy');
    writeFileSync(npy, npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", f32([1, 2, 3, 4]), 2));
    writeNames(join(scratch, 'v2.txt'), ['x', 'y']);
    assert.deepEqual(Array.from(loadFeatureMatrix(npy, join(scratch, 'v2.txt')).values), [1, 2, 3, 4]);
  });

  const bad: Array<{ name: string; dict: string; data: Uint8Array; rows?: number; detail: RegExp }> = [
    { name: 'float64 dtype', dict: "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2), }", data: new Uint8Array(16), detail: /dtype '<f8' is not supported: expected little-endian float32/ },
    { name: 'big-endian float32', dict: "{'descr': '>f4', 'fortran_order': False, 'shape': (1, 2), }", data: new Uint8Array(8), detail: /dtype '>f4' is not supported/ },
    { name: 'Fortran order', dict: "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", data: f32([1, 2, 3, 4]), detail: /Fortran \(column-major\) order is not supported/ },
    { name: 'a 1-D array', dict: "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", data: f32([1, 2, 3, 4]), detail: /shape \(4,\) is not 2-D/ },
    { name: 'truncated data', dict: "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", data: f32([1, 2, 3]), detail: /holds 12 data bytes, shape \(2, 2\) float32 needs 16/ },
    { name: 'fewer names than rows', dict: "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 1), }", data: f32([1, 2, 3]), rows: 2, detail: /2 names but .* has 3 rows/ },
  ];
  for (const c of bad) {
    it(`rejects ${c.name} with a message naming the file`, () => {
      const npy = join(scratch, `bad-${c.name.replace(/\W+/g, '-')}.npy`);
      const names = `${npy}.txt`;
      writeFileSync(npy, npyBytes(c.dict, c.data));
      writeNames(
        names,
        Array.from({ length: c.rows ?? 1 }, (_, i) => `n${i}`),
      );
      assert.throws(
        () => loadFeatureMatrix(npy, names),
        (err: unknown) => err instanceof DataError && (err.file === npy || err.file === names) && c.detail.test(err.message) && err.message.startsWith(`${err.file}: `),
      );
    });
  }

  it('rejects a file that is not .npy and duplicate names', () => {
    const npy = join(scratch, 'junk.npy');
    writeFileSync(npy, 'hello, world');
    assert.throws(() => loadFeatureMatrix(npy, npy), /junk\.npy: not a \.npy file/);
    const good = join(scratch, 'dup.npy');
    writeFileSync(good, npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1), }", f32([1, 2])));
    writeNames(join(scratch, 'dup.txt'), ['a', 'a']);
    assert.throws(() => loadFeatureMatrix(good, join(scratch, 'dup.txt')), /dup\.txt:2: duplicate name "a" \(also on line 1\)/);
  });
});

describe('featuresForCatalog', () => {
  const set = loadPolyvoreSet(FIXTURE, '630');
  // The fixture's lists carry '.jpg'; a feature file keyed by bare names, in another order, still matches.
  const order = [...set.catalog.names].reverse();
  const matrix = {
    dim: 2,
    names: order.map((n) => n.replace(/\.jpg$/, '')),
    values: new Float32Array(order.flatMap((n) => [set.catalog.byName.get(n)!, -set.catalog.byName.get(n)!])),
    source: '/feat/resnet34.npy',
  };

  it('puts rows in global item id order', () => {
    const out = featuresForCatalog(matrix, set.catalog);
    assert.equal(out.length, 10 * 2);
    for (let id = 0; id < 10; id++) assert.deepEqual([out[2 * id], out[2 * id + 1]], [id, -id]);
  });

  it('names every item without a feature row', () => {
    const partial = { ...matrix, names: matrix.names.slice(2), values: matrix.values.slice(4) };
    assert.throws(
      () => featuresForCatalog(partial, set.catalog),
      (err: unknown) =>
        err instanceof DataErrors &&
        err.errors.length === 2 &&
        /\/feat\/resnet34\.npy: no feature row for item "shoe_c\.jpg" \(shoe #2\)/.test(err.message) &&
        /no feature row for item "shoe_b\.jpg" \(shoe #1\)/.test(err.message),
    );
  });
});
