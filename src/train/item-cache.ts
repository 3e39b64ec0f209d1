/**
 * Inference through a FROZEN model with each item embedded once (docs/architecture.md: a frozen
 * teacher's item features are computed once per run, not per step; method.md §2.1). The cache holds the
 * item embeddings e = itemEmbedding(backbone(item)) of the items it was built for — d floats per
 * item, so a full-size catalog costs tens of MB where AlexNet's 4096-d features would cost GBs —
 * and runs only the Set Transformer and projection per outfit; the anchors' side is a dot product.
 *
 * Used for the FND teacher (its radius r̂_u and its view of each step's negatives), for the
 * per-epoch validation of the model being trained (whose weights do not change while it is
 * scored), for cold start and for serving. `test/train/item-cache.test.ts` pins that it scores
 * exactly like `OutfitModel.scoreTable`.
 */
import type { OutfitTable } from '../data/types.js';
import type { ItemInputSource } from '../model/inputs.js';
import type { OutfitModel } from '../model/outfit-model.js';

export class ItemEmbeddingCache {
  private constructor(
    readonly model: OutfitModel,
    /** [items · d] item embeddings, row r = the r-th cached item. */
    readonly embeddings: Float32Array,
    /** Global item id → row of `embeddings`, −1 when the item was not cached. */
    private readonly rowOf: Int32Array,
  ) {}

  /** Embeds `itemIds` (default: every item of `inputs`) with `model` in inference mode. */
  static async build(model: OutfitModel, inputs: ItemInputSource, itemIds?: Int32Array): Promise<ItemEmbeddingCache> {
    const ids = itemIds ?? Int32Array.from({ length: inputs.count }, (_, i) => i);
    const rowOf = new Int32Array(inputs.count).fill(-1);
    ids.forEach((id, row) => (rowOf[id] = row));
    return new ItemEmbeddingCache(model, await model.embedItems(inputs, ids), rowOf);
  }

  /** The distinct items of some tables, for `build`. */
  static itemsOf(...tables: OutfitTable[]): Int32Array {
    const seen = new Set<number>();
    for (const t of tables) for (let i = 0; i < t.items.length; i++) if (t.items[i] >= 0) seen.add(t.items[i]);
    return Int32Array.from([...seen].sort((a, b) => a - b));
  }

  /** The embedding row of a cached item. */
  rowOfItem(item: number): number {
    const row = this.rowOf[item];
    if (!(row >= 0)) throw new Error(`ItemEmbeddingCache: item ${item} was not cached`);
    return row;
  }

  /** ĥ [n · d] of rows `start..end` of `table` (normalised projected outfit embeddings). */
  async projectRows(table: OutfitTable, start = 0, end = table.users.length): Promise<Float32Array> {
    const { slots } = table;
    return this.model.projectEmbedded(this.embeddings, this.rowsOfItems(table.items.subarray(start * slots, end * slots)), slots);
  }

  /** The embedding rows of global item ids, −1 (an absent slot) kept as −1. */
  rowsOfItems(items: Int32Array): Int32Array {
    return items.map((item) => (item < 0 ? -1 : this.rowOfItem(item)));
  }

  /** Scores of every row of `table`. */
  async scoreTable(table: OutfitTable): Promise<Float32Array> {
    if (table.users.length === 0) return new Float32Array(0);
    return this.model.scoreProjected(await this.projectRows(table), table.users);
  }
}
