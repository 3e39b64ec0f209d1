/**
 * The onboarded users as a server sees them: the database (store.ts) is the truth, this process
 * keeps a cache of users it has served (their stored record and user vector, method.md §3).
 *
 * - A miss reads through to the database: a user onboarded through another replica is served on its
 *   first request, without waiting for any notification.
 * - Deletions made by other connections evict their entries (PostgreSQL NOTIFY, SQLite's deletion
 *   log read when the file's data version moves; store.ts `watch`), so a user deleted through
 *   replica A stops being served by replica B too. When notifications may have been missed (the
 *   PostgreSQL listening connection broke) the whole cache is dropped.
 * - A read-through that raced with an eviction is not cached (a generation counter), so a stale
 *   record never outlives the delete that overtook it.
 * - The cache is bounded (MAX_CACHED_USERS, first cached first dropped), and a database with more
 *   users than that is not read whole at start-up.
 */
import type { NewUserRecord, StoredUser, UserChange, UserStore, UserSummary } from './store.js';

/**
 * Users kept in memory at most (each about 4.5 KB at K 16, d 64): beyond it the oldest cached is
 * dropped and read again from the database when asked for.
 */
export const MAX_CACHED_USERS = 20_000;

export interface CachedUser {
  readonly user: StoredUser;
  /** Σ_k â_uk of the user (method.md §3). */
  readonly vector: Float32Array;
}

export class UserDirectory {
  private readonly cache = new Map<number, CachedUser>();
  /** Bumped on every eviction: a read that started before one must not fill the cache. */
  private generation = 0;

  constructor(
    readonly store: UserStore,
    /** The run's own users: ids 0..runUsers-1 are never in the database. */
    readonly runUsers: number,
    private readonly vectorOf: (anchors: Float32Array) => Float32Array,
    private readonly maxCached = MAX_CACHED_USERS,
  ) {
    store.watch((change) => this.onChange(change));
  }

  /** Fills the cache with every stored user when they fit in it (at start-up: the first requests need no round trip). */
  async warm(): Promise<void> {
    const generation = this.generation;
    if ((await this.store.count()) > this.maxCached) return;
    const users = await this.store.all();
    if (generation === this.generation) for (const u of users) this.remember(u);
  }

  /** The cached user, without asking the database (undefined = not cached, not necessarily unknown). */
  cached(id: number): CachedUser | undefined {
    return this.cache.get(id);
  }

  /** The onboarded user `id`, from the cache or else the database; undefined when there is none. */
  async find(id: number): Promise<CachedUser | undefined> {
    if (!Number.isInteger(id) || id < this.runUsers) return undefined;
    const hit = this.cache.get(id);
    if (hit) return hit;
    const generation = this.generation;
    const stored = await this.store.get(id);
    if (!stored) return undefined;
    const entry = { user: stored, vector: this.vectorOf(stored.anchors) };
    if (generation === this.generation) this.keep(id, entry);
    return entry;
  }

  /** Stores a new user and caches it. */
  async add(record: NewUserRecord): Promise<StoredUser> {
    const stored = await this.store.add(record);
    this.remember(stored);
    return stored;
  }

  /** Deletes an onboarded user from the database and this cache; false when there was none. */
  async delete(id: number): Promise<boolean> {
    this.evict(id);
    return this.store.delete(id);
  }

  /** Up to `limit` onboarded users, newest first, below id `before`; from the database (another replica may have added or deleted some). */
  page(limit: number, before?: number): Promise<UserSummary[]> {
    return this.store.page(limit, before);
  }

  count(): Promise<number> {
    return this.store.count();
  }

  /** Ids in the cache (for messages only: the database may hold more). */
  cachedIds(): number[] {
    return [...this.cache.keys()].sort((a, b) => a - b);
  }

  /** How many users are cached. */
  get cachedCount(): number {
    return this.cache.size;
  }

  /** How many users are cached, and the lowest and highest cached id (no sort of up to MAX_CACHED_USERS ids per call). */
  cachedRange(): { count: number; min: number; max: number } {
    let min = Infinity;
    let max = -Infinity;
    for (const id of this.cache.keys()) {
      if (id < min) min = id;
      if (id > max) max = id;
    }
    return { count: this.cache.size, min, max };
  }

  private remember(user: StoredUser): void {
    this.keep(user.id, { user, vector: this.vectorOf(user.anchors) });
  }

  private keep(id: number, entry: CachedUser): void {
    this.cache.set(id, entry);
    // Map order is insertion order: the first key is the longest cached
    if (this.cache.size > this.maxCached) this.cache.delete(this.cache.keys().next().value!);
  }

  private evict(id: number): void {
    this.generation++;
    this.cache.delete(id);
  }

  private onChange(change: UserChange): void {
    if (change.kind === 'reset') {
      this.generation++;
      this.cache.clear();
    } else if (change.kind === 'deleted') {
      this.evict(change.id);
    }
    // 'added': nothing to drop; the first request for it reads through
  }
}
