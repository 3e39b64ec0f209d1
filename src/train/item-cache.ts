/**
 * Inference through a FROZEN model with each item embedded once (a frozen teacher's item features
 * are computed once per run, not per step: method.md §4 Eq. S, §2). The cache holds the item
 * embeddings e = embedItems(backbone(item)) of the items it was built for — d floats per item, so a
 * full-size catalog costs tens of MB where AlexNet's 4096-d features would cost GBs — and runs only
 * the Set Transformer, projection and anchors per outfit.
 *
 * Used for the FND teacher (its radius r̂_u and its view of each step's negatives) and for the
 * per-epoch validation of the model being trained (whose weights do not change while it is scored).
 * `test/train/item-cache.test.ts` pins that it scores exactly like `OutfitModel.scoreTable`.
 */
import { tf, type Tensor1D, type Tensor2D, type Tensor3D } from '../engine/tf.js';
import type { OutfitTable } from '../data/types.js';
import type { ItemInputSource } from '../model/inputs.js';
import { keyBiasFromSlots } from '../model/set-transformer.js';
import type { OutfitModel } from '../model/outfit-model.js';

export interface ItemCacheOptions {
  /** Items run through the backbone at once. */
  itemBatch?: number;
  /** Outfits scored at once. */
  outfitBatch?: number;
}

export class ItemEmbeddingCache {
  private constructor(
    private readonly model: OutfitModel,
    /** [items + 1, d]; the last row is zeros, the padding row of absent slots. */
    private readonly embeddings: Tensor2D,
    /** Global item id → row of `embeddings`, −1 when the item was not cached. */
    private readonly rowOf: Int32Array,
    private readonly outfitBatch: number,
  ) {}

  /** Embeds `itemIds` (default: every item of `inputs`) with `model` in inference mode. */
  static build(model: OutfitModel, inputs: ItemInputSource, itemIds?: Int32Array, opts: ItemCacheOptions = {}): ItemEmbeddingCache {
    const ids = itemIds ?? Int32Array.from({ length: inputs.count }, (_, i) => i);
    const itemBatch = opts.itemBatch ?? 512;
    const rowOf = new Int32Array(inputs.count).fill(-1);
    ids.forEach((id, row) => (rowOf[id] = row));
    const dim = model.config.dim;
    const parts: Tensor2D[] = [];
    for (let start = 0; start < ids.length; start += itemBatch) {
      const chunk = ids.subarray(start, Math.min(ids.length, start + itemBatch));
      parts.push(tf.tidy(() => model.embedItems(model.itemFeatures(inputs.gather(chunk), false), false)));
    }
    parts.push(tf.zeros([1, dim]));
    const embeddings = tf.concat(parts, 0) as Tensor2D;
    for (const p of parts) p.dispose();
    return new ItemEmbeddingCache(model, embeddings, rowOf, opts.outfitBatch ?? 2048);
  }

  /** The distinct items of some tables, for `build`. */
  static itemsOf(...tables: OutfitTable[]): Int32Array {
    const seen = new Set<number>();
    for (const t of tables) for (let i = 0; i < t.items.length; i++) if (t.items[i] >= 0) seen.add(t.items[i]);
    return Int32Array.from([...seen].sort((a, b) => a - b));
  }

  /** Outfit embeddings z [n, d] of rows `start..end` of `table` (no gradient is meant to flow). */
  embedRows(table: OutfitTable, start: number, end: number): Tensor2D {
    const { slots } = table;
    const padRow = this.embeddings.shape[0] - 1;
    const n = end - start;
    const gatherIndex = new Int32Array(n * slots);
    const slotIndex = new Int32Array(n * slots);
    for (let i = 0; i < n * slots; i++) {
      const item = table.items[start * slots + i];
      if (item < 0) {
        gatherIndex[i] = padRow;
        slotIndex[i] = -1;
        continue;
      }
      const row = this.rowOf[item];
      if (row < 0) throw new Error(`ItemEmbeddingCache: item ${item} was not cached`);
      gatherIndex[i] = row;
      slotIndex[i] = row;
    }
    // the same steps as OutfitModel.embedOutfits after its item embedding (method.md §2.3)
    return tf.tidy(() => {
      const x = tf.reshape(tf.gather(this.embeddings, tf.tensor1d(gatherIndex, 'int32')), [n, slots, this.model.config.dim]) as Tensor3D;
      return this.model.encoder.forward(x, keyBiasFromSlots(slotIndex, slots));
    });
  }

  /** s(users[r], outfit r) for rows `start..end`, as a tensor [n]. */
  scoreRows(table: OutfitTable, start: number, end: number): Tensor1D {
    return tf.tidy(() => this.model.scoreOutfits(this.embedRows(table, start, end), table.users.subarray(start, end)));
  }

  /** Scores of every row of `table`. */
  scoreTable(table: OutfitTable): Float32Array {
    const n = table.users.length;
    const out = new Float32Array(n);
    for (let start = 0; start < n; start += this.outfitBatch) {
      const end = Math.min(n, start + this.outfitBatch);
      const s = this.scoreRows(table, start, end);
      out.set(s.dataSync() as Float32Array, start);
      s.dispose();
    }
    return out;
  }

  dispose(): void {
    this.embeddings.dispose();
  }
}
