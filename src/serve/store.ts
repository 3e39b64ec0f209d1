/**
 * Persistence of onboarded (cold) users: a better-sqlite3 database next to the run
 * (`<run>/users.sqlite` by default). Each row keeps the user's fitted anchors (float32 BLOB,
 * method.md §3 shape [K, d]), the outfits they were fitted from, the strategy (method.md §5) and the
 * creation time, so a restarted server serves the same users with the same scores.
 *
 * User ids: 0..runUsers-1 are the run's training users; onboarded users get runUsers,
 * runUsers+1, ... in creation order. Ids are assigned inside an IMMEDIATE transaction, so two
 * processes sharing one file never hand out the same id, and WAL mode lets readers go on
 * while a writer commits.
 */
import Database from 'better-sqlite3';
import { UserError, userErrorOf } from '../errors.js';

/** What the database must agree with: a file made for one model is refused by another. */
export interface StoreShape {
  /** Number of the run's own users; onboarded ids start here. */
  readonly runUsers: number;
  /** Anchors per user (method.md §3 K). */
  readonly anchorsPerUser: number;
  /** Anchor dimension (method.md §3 d). */
  readonly dim: number;
  /** Identifies the run (e.g. a hash of its config and weights), checked on open. */
  readonly runFingerprint: string;
}

export interface StoredUser {
  readonly id: number;
  /** Anchors, row-major [anchorsPerUser, dim]. */
  readonly anchors: Float32Array;
  /** The outfits the anchors were fitted from: global item ids per outfit. */
  readonly outfits: number[][];
  /** 'so' | 'su' | 'sa' (method.md §5). */
  readonly strategy: string;
  /** Optional label given at onboarding. */
  readonly label: string | null;
  /** ISO-8601 creation time. */
  readonly createdAt: string;
}

export interface NewUserRecord {
  readonly anchors: Float32Array;
  readonly outfits: number[][];
  readonly strategy: string;
  readonly label?: string | null;
}

const SCHEMA_VERSION = '1';

interface UserRow {
  id: number;
  anchors: Buffer;
  outfits: string;
  strategy: string;
  label: string | null;
  created_at: string;
}

export class UserStore {
  private readonly db: Database.Database;
  private readonly insertUser: (record: NewUserRecord) => StoredUser;

  private constructor(
    readonly path: string,
    readonly shape: StoreShape,
  ) {
    try {
      // busy timeout: another process holding the write lock makes us wait, not fail
      this.db = new Database(path, { timeout: 5000 });
    } catch (err) {
      throw userErrorOf(err, path) ?? new UserError(`cannot open user database ${path}: ${(err as Error).message}`);
    }
    try {
      this.db.pragma('journal_mode = WAL');
      // NORMAL is durable across application crashes in WAL mode; only an OS crash may lose the last commit
      this.db.pragma('synchronous = NORMAL');
      this.db.pragma('foreign_keys = ON');
      this.db.exec(`
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
        CREATE TABLE IF NOT EXISTS users (
          id INTEGER PRIMARY KEY,
          anchors BLOB NOT NULL,
          outfits TEXT NOT NULL,
          strategy TEXT NOT NULL,
          label TEXT,
          created_at TEXT NOT NULL
        ) STRICT;
      `);
      this.checkShape();
    } catch (err) {
      this.db.close();
      // a file that is not SQLite (or is corrupt, read-only, on a full disk): one line naming it
      throw userErrorOf(err, path) ?? err;
    }

    const maxId = this.db.prepare<[], { m: number | null }>('SELECT MAX(id) AS m FROM users');
    const insert = this.db.prepare(
      'INSERT INTO users (id, anchors, outfits, strategy, label, created_at) VALUES (?, ?, ?, ?, ?, ?)',
    );
    const tx = this.db.transaction((record: NewUserRecord): StoredUser => {
      const m = maxId.get()?.m ?? null;
      const id = m === null ? shape.runUsers : Math.max(shape.runUsers, m + 1);
      const createdAt = new Date().toISOString();
      const label = record.label ?? null;
      insert.run(id, anchorsToBlob(record.anchors), JSON.stringify(record.outfits), record.strategy, label, createdAt);
      return {
        id,
        anchors: Float32Array.from(record.anchors),
        outfits: record.outfits.map((o) => [...o]),
        strategy: record.strategy,
        label,
        createdAt,
      };
    });
    // IMMEDIATE takes the write lock before reading MAX(id): no two writers can pick the same id
    this.insertUser = (record) => tx.immediate(record);
  }

  /** Opens (creating if needed) the database at `path` for a model of the given shape. */
  static open(path: string, shape: StoreShape): UserStore {
    return new UserStore(path, shape);
  }

  /** Stores a new user and returns it with its assigned id. */
  add(record: NewUserRecord): StoredUser {
    const expected = this.shape.anchorsPerUser * this.shape.dim;
    if (record.anchors.length !== expected) {
      throw new Error(`anchors have ${record.anchors.length} values, expected K*d = ${expected}`);
    }
    for (let i = 0; i < record.anchors.length; i++) {
      if (!Number.isFinite(record.anchors[i])) throw new Error(`anchor value ${i} is not finite`);
    }
    return this.insertUser(record);
  }

  get(id: number): StoredUser | undefined {
    const row = this.db
      .prepare<[number], UserRow>('SELECT id, anchors, outfits, strategy, label, created_at FROM users WHERE id = ?')
      .get(id);
    return row ? this.fromRow(row) : undefined;
  }

  /** Every stored user in id order. */
  all(): StoredUser[] {
    return this.db
      .prepare<[], UserRow>('SELECT id, anchors, outfits, strategy, label, created_at FROM users ORDER BY id')
      .all()
      .map((row) => this.fromRow(row));
  }

  count(): number {
    return this.db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM users').get()!.n;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  private fromRow(row: UserRow): StoredUser {
    const anchors = blobToAnchors(row.anchors);
    if (anchors.length !== this.shape.anchorsPerUser * this.shape.dim) {
      throw new UserError(`${this.path}: user ${row.id} has ${anchors.length} anchor values, expected ${this.shape.anchorsPerUser * this.shape.dim}`);
    }
    return {
      id: row.id,
      anchors,
      outfits: JSON.parse(row.outfits) as number[][],
      strategy: row.strategy,
      label: row.label,
      createdAt: row.created_at,
    };
  }

  /** A database made for another run (or another model shape) would give meaningless anchors. */
  private checkShape(): void {
    const want: Record<string, string> = {
      schema: SCHEMA_VERSION,
      runUsers: String(this.shape.runUsers),
      anchorsPerUser: String(this.shape.anchorsPerUser),
      dim: String(this.shape.dim),
      runFingerprint: this.shape.runFingerprint,
    };
    const rows = this.db.prepare<[], { key: string; value: string }>('SELECT key, value FROM meta').all();
    if (rows.length === 0) {
      const put = this.db.prepare('INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)');
      this.db.transaction(() => {
        for (const [k, v] of Object.entries(want)) put.run(k, v);
      }).immediate();
      return;
    }
    const have = new Map(rows.map((r) => [r.key, r.value]));
    for (const [k, v] of Object.entries(want)) {
      if (have.get(k) !== v) {
        throw new UserError(
          `user database ${this.path} belongs to another run or model: ${k} is ${have.get(k) ?? '(missing)'}, this run has ${v}` +
            ' (use --db to choose another file)',
        );
      }
    }
  }
}

/** Little-endian float32 bytes (the platform order on every machine Node supports). */
function anchorsToBlob(anchors: Float32Array): Buffer {
  const copy = Float32Array.from(anchors);
  return Buffer.from(copy.buffer, copy.byteOffset, copy.byteLength);
}

function blobToAnchors(blob: Buffer): Float32Array {
  if (blob.byteLength % 4 !== 0) throw new Error(`anchor blob of ${blob.byteLength} bytes is not float32`);
  const out = new Float32Array(blob.byteLength / 4);
  new Uint8Array(out.buffer).set(blob);
  return out;
}
