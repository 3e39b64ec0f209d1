/**
 * Retrieval, the first stage of composition (compose.ts): per category, the items whose
 * single-item outfit {x} scores best for the user, s({x}) = ĥ_{x}·v_u / divisor (method.md §3),
 * i.e. a maximum-inner-product search of the user vector v_u = Σ_k â_uk against the precomputed
 * ĥ_{x} of the category's items.
 *
 * Two implementations with one interface:
 *   - `exact` (the default): every item of the category scored (usearch's SIMD brute force, the
 *     best re-scored here) and the best `count` selected; the reference the other is measured against;
 *   - `ann`: a usearch HNSW index per category over the same vectors, built once when the server
 *     starts. Chosen over hnswlib-node by bench/ann.ts (build and query time, recall against `exact`
 *     on the 29,870-item syn-630 catalog; docs/results.md §3), and it ships prebuilt binaries, so
 *     nothing compiles at install. On a trained model it missed 12 % of the exact top-16 items,
 *     and for some users a whole list (docs/results.md §3): it is for catalogs too large to scan.
 * Both return global item ids, best first; items for which `skip` is true are never returned.
 */
import { createRequire } from 'node:module';
import { Graph } from '../engine/graph.js';
import { CompiledGraph } from '../engine/runtime.js';

export type RetrievalKind = 'exact' | 'ann';
export const RETRIEVAL_KINDS: readonly RetrievalKind[] = ['exact', 'ann'];

export interface AnnSettings {
  /** HNSW graph degree (usearch `connectivity`). */
  connectivity: number;
  /** Candidate list while building. */
  expansionAdd: number;
  /** Candidate list while searching; raised to `count` when a query asks for more. */
  expansionSearch: number;
  /**
   * 'cos' or 'ip': the same ranking here (the ĥ rows are unit vectors, so ĥ·v ∝ cos(ĥ, v) for a
   * fixed query v), but HNSW's graph is built by the metric's notion of neighbours.
   */
  metric: 'cos' | 'ip';
  /** Neighbours asked for per wanted item; they are re-scored exactly and the best kept. */
  overfetch: number;
}

/** Chosen with bench/ann.ts on the syn-630 catalog (recall@16 against exact, query time). */
export const ANN_DEFAULTS: AnnSettings = { connectivity: 32, expansionAdd: 200, expansionSearch: 128, metric: 'cos', overfetch: 2 };

/** Per-category top items by inner product with a query vector. */
export interface Retriever {
  readonly kind: RetrievalKind;
  /** The `count` items of `category` with the largest ĥ·query, best first, none for which `skip` holds. */
  top(query: Float32Array, category: number, count: number, skip?: (item: number) => boolean): Int32Array;
  /**
   * `top` of every category c with `counts[c]` > 0 at once (an empty list for the others): what a
   * composition asks for. The same lists as `top`, category by category.
   */
  topPerCategory(query: Float32Array, counts: readonly number[], skip?: (item: number) => boolean): Promise<Int32Array[]>;
}

/** The vectors retrieval searches: ĥ rows of the catalog items, per category. */
export interface RetrievalVectors {
  readonly dim: number;
  /** Global item ids per category. */
  readonly catalog: readonly Int32Array[];
  /** [n·dim] rows; `rowOf[id]` is item id's row. */
  readonly vectors: Float32Array;
  readonly rowOf: Int32Array;
}

/**
 * Exhaustive inner products over the category. One category (`top`): usearch's brute-force
 * `exactSearch` (SIMD dot products, one thread) over the category's rows packed once. Every
 * category at once (`topPerCategory`, a composition): one matrix-vector product on ONNX Runtime over
 * all the catalog's rows, a constant of its graph, and a selection per category here, which takes
 * about three quarters of the CPU of three `exactSearch` calls on the syn-630 catalog
 * (docs/results.md §3). (usearch reads a typed array from its buffer's start, so each category's
 * rows stay a copy of their own for `top`, not a view of that matrix.) Either
 * way the best `2·count + 8` are then re-scored here in catalog order, so the result and its tie
 * order are those of a plain scan (`among`, small categories).
 */
export class ExactRetriever implements Retriever {
  readonly kind = 'exact' as const;
  /** Per category, its items' rows back to back in catalog order (null: small enough to scan in JS). */
  private readonly packed: Array<Float32Array | null>;
  /** The product of `topPerCategory` over every category's rows (built on first use). */
  private scorer: MatVec | null = null;
  /** First row of each category in the scorer's matrix (categories in order, items in catalog order). */
  private readonly starts: number[];

  constructor(private readonly data: RetrievalVectors) {
    const { dim, vectors, rowOf } = data;
    this.packed = data.catalog.map((ids) => {
      if (ids.length < NATIVE_SCAN_FROM) return null;
      const rows = new Float32Array(ids.length * dim);
      ids.forEach((id, i) => rows.set(vectors.subarray(rowOf[id] * dim, (rowOf[id] + 1) * dim), i * dim));
      return rows;
    });
    this.starts = [];
    let at = 0;
    for (const ids of data.catalog) {
      this.starts.push(at);
      at += ids.length;
    }
  }

  async topPerCategory(query: Float32Array, counts: readonly number[], skip?: (item: number) => boolean): Promise<Int32Array[]> {
    const { catalog } = this.data;
    const native = catalog.some((ids, c) => counts[c] > 0 && this.packed[c] !== null);
    if (!native) return catalog.map((_, c) => (counts[c] > 0 ? this.top(query, c, counts[c], skip) : new Int32Array(0)));
    const scores = await this.matVec().times(query);
    return catalog.map((ids, c) => {
      const count = counts[c];
      if (count <= 0) return new Int32Array(0);
      if (!this.packed[c]) return this.top(query, c, count, skip);
      // the best 2·count + 8 by the product's scores, then re-scored in catalog order as `top` does
      const best = bestPositions(scores, this.starts[c], ids.length, Math.min(ids.length, 2 * count + 8), skip ? (i) => skip(ids[i]) : undefined);
      return this.scan(Int32Array.from(best).sort().map((i) => ids[i]), count, query);
    });
  }

  /** M·query over every category's rows (categories in order, items in catalog order). */
  private matVec(): MatVec {
    this.scorer ??= (() => {
      const { catalog, dim, vectors, rowOf } = this.data;
      const rows = this.starts.length === 0 ? 0 : this.starts[this.starts.length - 1] + catalog[catalog.length - 1].length;
      const matrix = new Float32Array(rows * dim);
      catalog.forEach((ids, c) => ids.forEach((id, i) => matrix.set(vectors.subarray(rowOf[id] * dim, (rowOf[id] + 1) * dim), (this.starts[c] + i) * dim)));
      return new MatVec(matrix, dim, 'outfitrec-retrieval');
    })();
    return this.scorer;
  }

  /** `among`: score only these items of the category (default: all of it). */
  top(query: Float32Array, category: number, count: number, skip?: (item: number) => boolean, among?: Int32Array): Int32Array {
    const ids = this.data.catalog[category];
    const rows = this.packed[category];
    if (among || !rows || count <= 0) return this.scan(among ?? ids, count, query, skip);
    let want = Math.min(ids.length, 2 * count + 8);
    for (;;) {
      const found = loadUsearch().exactSearch(rows, query, this.data.dim, want, 'ip', 1);
      // back to catalog order, so that equal scores keep the order a plain scan gives them
      const positions = Int32Array.from(found.keys, (k) => Number(k)).sort();
      const candidates = Int32Array.from(positions, (i) => ids[i]);
      const kept = skip ? candidates.filter((id) => !skip(id)) : candidates;
      if (kept.length >= 2 * count || want === ids.length) return this.scan(kept, count, query);
      want = Math.min(ids.length, want * 2 + (candidates.length - kept.length));
    }
  }

  private scan(pool: Int32Array, count: number, query: Float32Array, skip?: (item: number) => boolean): Int32Array {
    const { dim, vectors, rowOf } = this.data;
    return topByScore(pool, count, skip, (item) => {
      const o = rowOf[item] * dim;
      let s = 0;
      for (let t = 0; t < dim; t++) s += vectors[o + t] * query[t];
      return s;
    });
  }
}

/**
 * A fixed matrix M [rows, dim] times query vectors, on ONNX Runtime (M a constant of the graph,
 * compiled on first use): one native product instead of rows × dim multiply-adds in JavaScript.
 */
export class MatVec {
  private compiled: Promise<CompiledGraph> | null = null;

  constructor(
    private readonly matrix: Float32Array,
    readonly dim: number,
    private readonly name = 'outfitrec-matvec',
  ) {}

  /** M·query, [rows]. */
  async times(query: Float32Array): Promise<Float32Array> {
    return this.timesMany(query, 1);
  }

  /** M·Q for `count` queries at once, Q [dim, count] row-major: [rows, count] row-major. */
  async timesMany(queries: Float32Array, count: number): Promise<Float32Array> {
    const [out] = await (await this.compile()).run({ query: { data: queries, dims: [this.dim, count] } });
    return out as Float32Array;
  }

  /**
   * Builds the ONNX Runtime session (done by the first `times` otherwise). With M in the tens of
   * MB that takes tens of ms, which a server does at start rather than in a request.
   */
  compile(): Promise<CompiledGraph> {
    this.compiled ??= (() => {
      const rows = this.matrix.length / this.dim;
      const g = new Graph('float32');
      g.output(g.matmul(g.constant(this.matrix, [rows, this.dim]), g.input('query', [this.dim, 'queries'])));
      return CompiledGraph.create(g, { name: this.name });
    })();
    return this.compiled;
  }
}

/** Categories with at least this many items are searched natively (below it a JS scan is as fast). */
const NATIVE_SCAN_FROM = 512;

/**
 * Positions (0-based, from `start`) of the `want` largest of `scores[start .. start+len)` that
 * `skip` does not exclude, in no particular order. One comparison per score that cannot enter; `skip`
 * is asked only of those that can.
 */
export function bestPositions(scores: Float32Array, start: number, len: number, want: number, skip?: (position: number) => boolean): number[] {
  // a min-heap of the best so far, by score
  const heapScores = new Float32Array(want);
  const heapPos: number[] = [];
  let size = 0;
  // the heap's least score once it is full (−∞ until then): most scores stop at this comparison
  let floor = -Infinity;
  for (let i = 0; i < len; i++) {
    const s = scores[start + i];
    if (!(s > floor)) continue;
    if (skip?.(i)) continue;
    if (size < want) {
      // sift up
      let j = size++;
      while (j > 0) {
        const parent = (j - 1) >> 1;
        if (!(heapScores[parent] > s)) break;
        heapScores[j] = heapScores[parent];
        heapPos[j] = heapPos[parent];
        j = parent;
      }
      heapScores[j] = s;
      heapPos[j] = i;
      if (size === want) floor = heapScores[0];
      continue;
    }
    // replace the root, sift down
    let j = 0;
    for (;;) {
      const l = 2 * j + 1;
      if (l >= size) break;
      const r = l + 1;
      const child = r < size && heapScores[r] < heapScores[l] ? r : l;
      if (!(heapScores[child] < s)) break;
      heapScores[j] = heapScores[child];
      heapPos[j] = heapPos[child];
      j = child;
    }
    heapScores[j] = s;
    heapPos[j] = i;
    floor = heapScores[0];
  }
  return heapPos.slice(0, size);
}

/**
 * The `count` items of `pool` with the largest score (ties: earlier in the pool first), best first.
 * Keeps a sorted buffer of the best so far: O(n·log count) comparisons, no n-sized sort. `score`
 * is a function of the item or an array indexed by it; the array is read here directly, because a
 * call per item that returns a float allocates it (16 bytes each: for the 32,768 probes a
 * composition's young garbage was 591 KB, read directly 106 KB).
 */
export function topByScore(pool: Int32Array, count: number, skip: ((item: number) => boolean) | undefined, score: ((item: number) => number) | Float32Array): Int32Array {
  const ids: number[] = [];
  const scores: number[] = [];
  const direct = typeof score === 'function' ? null : score;
  const call = typeof score === 'function' ? score : null;
  for (let i = 0; i < pool.length; i++) {
    const item = pool[i];
    if (skip?.(item)) continue;
    const s = direct !== null ? direct[item] : call!(item);
    if (ids.length === count && !(s > scores[count - 1])) continue;
    // insertion point: after every score >= s (stable)
    let lo = 0;
    let hi = ids.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (scores[mid] >= s) lo = mid + 1;
      else hi = mid;
    }
    ids.splice(lo, 0, item);
    scores.splice(lo, 0, s);
    if (ids.length > count) {
      ids.pop();
      scores.pop();
    }
  }
  return Int32Array.from(ids);
}

interface UsearchMatches {
  keys: BigUint64Array;
  distances: Float32Array;
}
interface UsearchIndex {
  add(keys: BigUint64Array, vectors: Float32Array[], threads: number): void;
  search(vector: Float32Array, k: number, threads: number): UsearchMatches;
  size(): number;
  changeExpansionSearch?(n: number): void;
}
interface UsearchModule {
  exactSearch(dataset: Float32Array, queries: Float32Array, dimensions: number, count: number, metric: string, threads: number): UsearchMatches;
  Index: new (config: {
    dimensions: number;
    metric: string;
    quantization: string;
    connectivity: number;
    expansion_add: number;
    expansion_search: number;
    multi: boolean;
  }) => UsearchIndex;
}

let usearch: UsearchModule | null = null;

/** usearch (a native addon), loaded on first use. */
function loadUsearch(): UsearchModule {
  usearch ??= createRequire(import.meta.url)('usearch') as UsearchModule;
  return usearch;
}

/** One usearch HNSW index per category over the ĥ rows (inner-product metric). */
export class AnnRetriever implements Retriever {
  readonly kind = 'ann' as const;
  private readonly indexes: UsearchIndex[];
  private readonly exact: ExactRetriever;
  /** Build time of all indexes, ms. */
  readonly buildMs: number;

  constructor(
    private readonly data: RetrievalVectors,
    readonly settings: AnnSettings = ANN_DEFAULTS,
  ) {
    const started = performance.now();
    this.exact = new ExactRetriever(data);
    const { Index } = loadUsearch();
    const { dim, vectors, rowOf } = data;
    this.indexes = data.catalog.map((ids) => {
      const index = new Index({
        dimensions: dim,
        metric: settings.metric,
        quantization: 'f32',
        connectivity: settings.connectivity,
        expansion_add: settings.expansionAdd,
        expansion_search: settings.expansionSearch,
        multi: false,
      });
      if (ids.length > 0) {
        const rows = Array.from(ids, (id) => vectors.subarray(rowOf[id] * dim, (rowOf[id] + 1) * dim));
        // one thread: a build on several threads links the graph in a different order each time, so
        // two servers of one run (replicas, --processes, a restart) retrieved different items for the
        // same user (46 of 300 top-16 lists differed on runs/sci/distill24-s2); one thread gives the
        // same index every time, for about 0.7 s more at start on 29,870 items
        index.add(BigUint64Array.from(ids, (id) => BigInt(id)), rows, 1);
      }
      return index;
    });
    this.buildMs = performance.now() - started;
  }

  topPerCategory(query: Float32Array, counts: readonly number[], skip?: (item: number) => boolean): Promise<Int32Array[]> {
    return Promise.resolve(this.data.catalog.map((_, c) => (counts[c] > 0 ? this.top(query, c, counts[c], skip) : new Int32Array(0))));
  }

  top(query: Float32Array, category: number, count: number, skip?: (item: number) => boolean): Int32Array {
    const pool = this.data.catalog[category];
    const index = this.indexes[category];
    if (pool.length === 0 || count <= 0) return new Int32Array(0);
    // `overfetch` neighbours per wanted item, re-scored exactly; more when skipped items leave too few
    let want = Math.min(pool.length, count * this.settings.overfetch);
    for (;;) {
      const found = index.search(query, want, 1);
      const candidates = new Int32Array(found.keys.length);
      let n = 0;
      for (let i = 0; i < found.keys.length; i++) {
        const item = Number(found.keys[i]);
        if (!skip?.(item)) candidates[n++] = item;
      }
      if (n >= count || want >= pool.length) return this.exact.top(query, category, count, undefined, candidates.subarray(0, n));
      if (want >= 4 * count * this.settings.overfetch + 64) return this.exact.top(query, category, count, skip);
      want = Math.min(pool.length, want * 2 + 8);
    }
  }
}

export function makeRetriever(kind: RetrievalKind, data: RetrievalVectors, settings?: AnnSettings): Retriever {
  return kind === 'ann' ? new AnnRetriever(data, settings) : new ExactRetriever(data);
}
