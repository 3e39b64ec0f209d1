/**
 * Persistence of onboarded (cold) users behind one async interface, with two back ends:
 *
 * - SQLite (better-sqlite3, the embedded default): a file next to the run (`<run>/users.sqlite`),
 *   WAL mode, so readers go on while a writer commits and several processes may share the file;
 * - PostgreSQL (the `pg` client, `serve --db postgres://…`): one database shared by any number of
 *   replicas of `serve`; every change is announced with NOTIFY so the other replicas drop what they
 *   cached (users.ts).
 *
 * Each row keeps the user's fitted anchors (float32 bytes, method.md §3 shape [K, d]), the outfits
 * they were fitted from, the strategy (method.md §5), an optional label and the creation time, so a
 * restarted server serves the same users with the same scores.
 *
 * User ids: 0..runUsers-1 are the run's training users; onboarded users get runUsers, runUsers+1,
 * ... in creation order from a counter kept in the database (`meta.next_user_id`), taken under the
 * database's write lock, so two processes never hand out the same id and a deleted user's id is
 * never given to someone else.
 *
 * The number of onboarded users is a counter row (`counters.users`) changed in the transaction that
 * adds or deletes a user, so `count()` (every onboarding, every /health) costs the same at ten users
 * and at a million: COUNT(*) reads the whole table, about 24 ms at 50,000 users of 4 KB in SQLite.
 * Listing is paged, newest first, and reads no anchors (`page`).
 *
 * Schema: created by the server, versioned by a `schema_migrations` table (one row per applied
 * migration). Migrations run in one transaction (PostgreSQL: under an advisory lock, so replicas
 * starting together do not race); a database migrated by a newer version of outfitrec is refused.
 */
import Database from 'better-sqlite3';
import pg from 'pg';
import { UserError, userErrorOf } from '../errors.js';

/** What the database must agree with: a database made for one model is refused by another. */
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
  /** The outfits the anchors were fitted from: global item ids per outfit (-1 = empty slot). */
  readonly outfits: number[][];
  /** 'so' | 'su' | 'sa' (method.md §5). */
  readonly strategy: string;
  /** Optional label given at onboarding. */
  readonly label: string | null;
  /** ISO-8601 creation time. */
  readonly createdAt: string;
}

/** What a listing shows of a user: no anchors, the outfit count. */
export interface UserSummary {
  readonly id: number;
  readonly label: string | null;
  readonly strategy: string;
  readonly outfits: number;
  readonly createdAt: string;
}

export interface NewUserRecord {
  readonly anchors: Float32Array;
  readonly outfits: number[][];
  readonly strategy: string;
  readonly label?: string | null;
}

/**
 * The database cannot be reached (server down, refused, timed out, authentication failed): at
 * start-up one line and exit 1 like any UserError; for a request, the server answers 503.
 */
export class DatabaseUnavailableError extends UserError {
  override name = 'DatabaseUnavailableError';
}

/** A change made by another connection: one user added or deleted, or 'reset' = anything may have changed. */
export type UserChange = { kind: 'added' | 'deleted'; id: number } | { kind: 'reset' };

/** The users database, whichever back end holds it. */
export interface UserStore {
  readonly kind: 'sqlite' | 'postgres';
  /** The file, or the PostgreSQL address without its password (for messages and logs). */
  readonly location: string;
  /** Stores a new user and returns it with its assigned id. */
  add(record: NewUserRecord): Promise<StoredUser>;
  get(id: number): Promise<StoredUser | undefined>;
  /** Every stored user in id order. */
  all(): Promise<StoredUser[]>;
  /** Up to `limit` users, newest (highest id) first, only ids below `before` when given. */
  page(limit: number, before?: number): Promise<UserSummary[]>;
  /** The number of stored users (a counter row: constant time). */
  count(): Promise<number>;
  /** Removes a user; false when there was none with this id. */
  delete(id: number): Promise<boolean>;
  /**
   * Calls `listener` when ANOTHER connection (process, replica) changed the users: PostgreSQL
   * through LISTEN/NOTIFY (additions and deletions; 'reset' after its connection broke), SQLite by
   * polling the file's data version every `pollMs` and reading the deletion log (deletions only; a
   * deletion made by this connection may be reported too).
   */
  watch(listener: (change: UserChange) => void): void;
  close(): Promise<void>;
}

export interface OpenStoreOptions {
  /** SQLite: how often another process's commits are looked for, ms (default 200). */
  pollMs?: number;
}

/** Opens the users database: a `postgres://` / `postgresql://` address, else a SQLite file (or ':memory:'). */
export async function openUserStore(spec: string, shape: StoreShape, opts: OpenStoreOptions = {}): Promise<UserStore> {
  return isPostgresUrl(spec) ? PostgresUserStore.open(spec, shape) : SqliteUserStore.open(spec, shape, opts);
}

export function isPostgresUrl(spec: string): boolean {
  return /^postgres(ql)?:\/\//i.test(spec);
}

/** The newest schema this code knows; a database at a higher version was made by a newer outfitrec. */
const SQLITE_MIGRATIONS: readonly string[] = [
  // 1: the tables of the first release (IF NOT EXISTS: files made before schema_migrations existed match it)
  `CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
   CREATE TABLE IF NOT EXISTS users (
     id INTEGER PRIMARY KEY,
     anchors BLOB NOT NULL,
     outfits TEXT NOT NULL,
     strategy TEXT NOT NULL,
     label TEXT,
     created_at TEXT NOT NULL
   ) STRICT;`,
  // 2: the user count as a row, kept by add and delete (COUNT(*) reads the whole table)
  `CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT;
   INSERT INTO counters (name, value) SELECT 'users', COUNT(*) FROM users;`,
  // 3: every deleted user id in commit order, so that other processes evict just those users
  // (PostgreSQL sends them as notifications instead)
  `CREATE TABLE deletions (seq INTEGER PRIMARY KEY AUTOINCREMENT, user_id INTEGER NOT NULL) STRICT;`,
];

const POSTGRES_MIGRATIONS: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS meta (key text PRIMARY KEY, value text NOT NULL);
   CREATE TABLE IF NOT EXISTS users (
     id integer PRIMARY KEY,
     anchors bytea NOT NULL,
     outfits text NOT NULL,
     strategy text NOT NULL,
     label text,
     created_at text NOT NULL
   );`,
  `CREATE TABLE counters (name text PRIMARY KEY, value bigint NOT NULL);
   INSERT INTO counters (name, value) SELECT 'users', COUNT(*) FROM users;`,
];

/** The notification channel of user changes (PostgreSQL). */
const CHANNEL = 'outfitrec_users';

type SummaryRow = Omit<UserRow, 'anchors'>;

function summaryOf(row: SummaryRow): UserSummary {
  return { id: Number(row.id), label: row.label, strategy: row.strategy, outfits: (JSON.parse(row.outfits) as unknown[]).length, createdAt: row.created_at };
}

interface UserRow {
  id: number;
  anchors: Buffer;
  outfits: string;
  strategy: string;
  label: string | null;
  created_at: string;
}

const USER_COLUMNS = 'id, anchors, outfits, strategy, label, created_at';
const SUMMARY_COLUMNS = 'id, outfits, strategy, label, created_at';

// ---- SQLite -----------------------------------------------------------------------------------

export class SqliteUserStore implements UserStore {
  readonly kind = 'sqlite';
  private readonly db: Database.Database;
  private readonly insertUser: (record: NewUserRecord) => StoredUser;
  private readonly deleteUser: (id: number) => boolean;
  private readonly listeners: Array<(change: UserChange) => void> = [];
  private poll: NodeJS.Timeout | undefined;
  private dataVersion = 0;
  /** The last row of `deletions` reported to the listeners (or there at open). */
  private lastDeletion = 0;

  private constructor(
    readonly location: string,
    readonly shape: StoreShape,
    private readonly pollMs: number,
  ) {
    try {
      // busy timeout: another process holding the write lock makes us wait, not fail
      this.db = new Database(location, { timeout: 5000 });
    } catch (err) {
      throw userErrorOf(err, location) ?? new UserError(`cannot open user database ${location}: ${(err as Error).message}`);
    }
    try {
      this.db.pragma('journal_mode = WAL');
      // NORMAL is durable across application crashes in WAL mode; only an OS crash may lose the last commit
      this.db.pragma('synchronous = NORMAL');
      this.db.transaction(() => {
        this.db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL) STRICT');
        const applied = this.db.prepare<[], { v: number | null }>('SELECT MAX(version) AS v FROM schema_migrations').get()?.v ?? 0;
        checkSchemaVersion(applied, SQLITE_MIGRATIONS.length, location);
        const record = this.db.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)');
        for (let v = applied + 1; v <= SQLITE_MIGRATIONS.length; v++) {
          this.db.exec(SQLITE_MIGRATIONS[v - 1]);
          record.run(v, new Date().toISOString());
        }
        const meta = this.db.prepare<[], { key: string; value: string }>('SELECT key, value FROM meta').all();
        const maxId = this.db.prepare<[], { m: number | null }>('SELECT MAX(id) AS m FROM users').get()?.m ?? null;
        const put = this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)');
        for (const [k, v] of metaToAdd(meta, shape, maxId, location)) put.run(k, v);
      }).immediate();
    } catch (err) {
      this.db.close();
      // a file that is not SQLite (or is corrupt, read-only, on a full disk): one line naming it
      throw userErrorOf(err, location) ?? err;
    }

    const nextId = this.db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'next_user_id'");
    const bump = this.db.prepare("UPDATE meta SET value = ? WHERE key = 'next_user_id'");
    const insert = this.db.prepare(`INSERT INTO users (${USER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)`);
    const addToCount = this.db.prepare<[number]>("UPDATE counters SET value = value + ? WHERE name = 'users'");
    const tx = this.db.transaction((record: NewUserRecord): StoredUser => {
      const id = Number(nextId.get()!.value);
      const user = newUser(id, record);
      insert.run(id, anchorsToBlob(user.anchors), JSON.stringify(user.outfits), user.strategy, user.label, user.createdAt);
      bump.run(String(id + 1));
      addToCount.run(1);
      return user;
    });
    // IMMEDIATE takes the write lock before reading the counter: no two writers can pick the same id
    this.insertUser = (record) => tx.immediate(record);
    const remove = this.db.prepare<[number]>('DELETE FROM users WHERE id = ?');
    const logDeletion = this.db.prepare<[number]>('INSERT INTO deletions (user_id) VALUES (?)');
    const deleteTx = this.db.transaction((id: number): boolean => {
      const gone = remove.run(id).changes > 0;
      if (gone) {
        addToCount.run(-1);
        logDeletion.run(id);
      }
      return gone;
    });
    this.deleteUser = (id) => deleteTx.immediate(id);
    this.dataVersion = this.readDataVersion();
    this.lastDeletion = this.db.prepare<[], { s: number | null }>('SELECT MAX(seq) AS s FROM deletions').get()?.s ?? 0;
  }

  static open(path: string, shape: StoreShape, opts: OpenStoreOptions = {}): SqliteUserStore {
    return new SqliteUserStore(path, shape, opts.pollMs ?? 200);
  }

  async add(record: NewUserRecord): Promise<StoredUser> {
    checkRecord(record, this.shape);
    // data_version does not move for this connection's own commits; reading it here would
    // swallow another process's commit made since the last poll
    return this.insertUser(record);
  }

  async get(id: number): Promise<StoredUser | undefined> {
    const row = this.db.prepare<[number], UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE id = ?`).get(id);
    return row ? fromRow(row, this.shape, this.location) : undefined;
  }

  async all(): Promise<StoredUser[]> {
    return this.db
      .prepare<[], UserRow>(`SELECT ${USER_COLUMNS} FROM users ORDER BY id`)
      .all()
      .map((row) => fromRow(row, this.shape, this.location));
  }

  async page(limit: number, before?: number): Promise<UserSummary[]> {
    const rows =
      before === undefined
        ? this.db.prepare<[number], SummaryRow>(`SELECT ${SUMMARY_COLUMNS} FROM users ORDER BY id DESC LIMIT ?`).all(limit)
        : this.db.prepare<[number, number], SummaryRow>(`SELECT ${SUMMARY_COLUMNS} FROM users WHERE id < ? ORDER BY id DESC LIMIT ?`).all(before, limit);
    return rows.map(summaryOf);
  }

  async count(): Promise<number> {
    return this.db.prepare<[], { n: number }>("SELECT value AS n FROM counters WHERE name = 'users'").get()!.n;
  }

  async delete(id: number): Promise<boolean> {
    return this.deleteUser(id);
  }

  watch(listener: (change: UserChange) => void): void {
    this.listeners.push(listener);
    if (this.poll !== undefined || this.location === ':memory:') return;
    // data_version changes only when ANOTHER connection commits to the file; then the deletion log
    // says which users are gone (an added user needs no news: a cache miss reads through). The
    // version is read first, so a commit landing between the two reads is looked at again next time.
    const deletedSince = this.db.prepare<[number], { seq: number; user_id: number }>('SELECT seq, user_id FROM deletions WHERE seq > ? ORDER BY seq');
    this.poll = setInterval(() => {
      if (!this.db.open) return;
      const v = this.readDataVersion();
      if (v === this.dataVersion) return;
      this.dataVersion = v;
      for (const row of deletedSince.all(this.lastDeletion)) {
        this.lastDeletion = row.seq;
        for (const l of this.listeners) l({ kind: 'deleted', id: row.user_id });
      }
    }, this.pollMs);
    this.poll.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.poll);
    if (this.db.open) this.db.close();
  }

  /** The schema versions applied to this file (tests, diagnostics). */
  migrations(): number[] {
    return this.db.prepare<[], { version: number }>('SELECT version FROM schema_migrations ORDER BY version').all().map((r) => r.version);
  }

  private readDataVersion(): number {
    return this.db.pragma('data_version', { simple: true }) as number;
  }
}

// ---- PostgreSQL -------------------------------------------------------------------------------

export class PostgresUserStore implements UserStore {
  readonly kind = 'postgres';
  private listener: pg.Client | undefined;
  private readonly listeners: Array<(change: UserChange) => void> = [];
  private closed = false;
  private reconnect: NodeJS.Timeout | undefined;

  private constructor(
    private readonly url: string,
    readonly location: string,
    readonly shape: StoreShape,
    private readonly pool: pg.Pool,
    /** This process's own backend ids: its own NOTIFYs are no news to it. */
    private readonly ownPids: Set<number>,
  ) {}

  static async open(url: string, shape: StoreShape): Promise<PostgresUserStore> {
    const location = redactUrl(url);
    const ownPids = new Set<number>();
    const pool = new pg.Pool({ connectionString: url, max: 4, connectionTimeoutMillis: 10_000, idleTimeoutMillis: 30_000 });
    // an idle client losing its server (restart, network) must not crash the process
    pool.on('error', () => {});
    pool.on('connect', (client) => {
      client.query('SELECT pg_backend_pid() AS pid').then((r: pg.QueryResult<{ pid: number }>) => ownPids.add(r.rows[0].pid), () => {});
    });
    const store = new PostgresUserStore(url, location, shape, pool, ownPids);
    try {
      await store.transaction(async (client) => {
        // one migrator at a time: replicas starting together wait here for each other
        await client.query("SELECT pg_advisory_xact_lock(hashtext('outfitrec-schema'))");
        await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
        const applied = Number((await client.query<{ v: number | null }>('SELECT MAX(version) AS v FROM schema_migrations')).rows[0].v ?? 0);
        checkSchemaVersion(applied, POSTGRES_MIGRATIONS.length, location);
        for (let v = applied + 1; v <= POSTGRES_MIGRATIONS.length; v++) {
          await client.query(POSTGRES_MIGRATIONS[v - 1]);
          await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [v]);
        }
        const meta = (await client.query<{ key: string; value: string }>('SELECT key, value FROM meta')).rows;
        const maxId = (await client.query<{ m: number | null }>('SELECT MAX(id) AS m FROM users')).rows[0].m;
        for (const [k, v] of metaToAdd(meta, shape, maxId, location)) await client.query('INSERT INTO meta (key, value) VALUES ($1, $2)', [k, v]);
      });
    } catch (err) {
      await pool.end().catch(() => {});
      throw err;
    }
    return store;
  }

  async add(record: NewUserRecord): Promise<StoredUser> {
    checkRecord(record, this.shape);
    return this.transaction(async (client) => {
      // the counter row's lock serialises writers: ids are unique across replicas
      const next = await client.query<{ value: string }>("SELECT value FROM meta WHERE key = 'next_user_id' FOR UPDATE");
      const id = Number(next.rows[0].value);
      const user = newUser(id, record);
      await client.query(`INSERT INTO users (${USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)`, [
        id,
        anchorsToBlob(user.anchors),
        JSON.stringify(user.outfits),
        user.strategy,
        user.label,
        user.createdAt,
      ]);
      await client.query("UPDATE meta SET value = $1 WHERE key = 'next_user_id'", [String(id + 1)]);
      await client.query("UPDATE counters SET value = value + 1 WHERE name = 'users'");
      // delivered to every listener at commit, never for a rolled-back insert
      await client.query('SELECT pg_notify($1, $2)', [CHANNEL, `added:${id}`]);
      return user;
    });
  }

  async get(id: number): Promise<StoredUser | undefined> {
    const r = await this.query<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE id = $1`, [id]);
    return r.rows[0] ? fromRow(r.rows[0], this.shape, this.location) : undefined;
  }

  async all(): Promise<StoredUser[]> {
    const r = await this.query<UserRow>(`SELECT ${USER_COLUMNS} FROM users ORDER BY id`);
    return r.rows.map((row) => fromRow(row, this.shape, this.location));
  }

  async page(limit: number, before?: number): Promise<UserSummary[]> {
    const r =
      before === undefined
        ? await this.query<SummaryRow>(`SELECT ${SUMMARY_COLUMNS} FROM users ORDER BY id DESC LIMIT $1`, [limit])
        : await this.query<SummaryRow>(`SELECT ${SUMMARY_COLUMNS} FROM users WHERE id < $1 ORDER BY id DESC LIMIT $2`, [before, limit]);
    return r.rows.map(summaryOf);
  }

  async count(): Promise<number> {
    // bigint arrives as a string
    return Number((await this.query<{ n: string }>("SELECT value AS n FROM counters WHERE name = 'users'")).rows[0].n);
  }

  async delete(id: number): Promise<boolean> {
    return this.transaction(async (client) => {
      const r = await client.query('DELETE FROM users WHERE id = $1', [id]);
      if ((r.rowCount ?? 0) === 0) return false;
      await client.query("UPDATE counters SET value = value - 1 WHERE name = 'users'");
      await client.query('SELECT pg_notify($1, $2)', [CHANNEL, `deleted:${id}`]);
      return true;
    });
  }

  watch(listener: (change: UserChange) => void): void {
    this.listeners.push(listener);
    if (this.listener === undefined && this.reconnect === undefined) void this.listen();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reconnect);
    const l = this.listener;
    this.listener = undefined;
    await l?.end().catch(() => {});
    await this.pool.end().catch(() => {});
  }

  /** Schema versions applied (tests, diagnostics). */
  async migrations(): Promise<number[]> {
    return (await this.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version')).rows.map((r) => r.version);
  }

  /** A dedicated connection that LISTENs; when it breaks, caches are reset and it reconnects. */
  private async listen(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 10_000 });
    const lost = (): void => {
      if (this.listener !== client) return;
      this.listener = undefined;
      client.end().catch(() => {});
      this.emit({ kind: 'reset' }); // notifications may have been missed
      if (!this.closed) this.reconnect = setTimeout(() => ((this.reconnect = undefined), void this.listen()), 500).unref();
    };
    client.on('error', lost);
    client.on('end', lost);
    client.on('notification', (msg) => {
      if (msg.channel !== CHANNEL || this.ownPids.has(msg.processId)) return;
      const m = /^(added|deleted):(\d+)$/.exec(msg.payload ?? '');
      this.emit(m ? { kind: m[1] as 'added' | 'deleted', id: Number(m[2]) } : { kind: 'reset' });
    });
    this.listener = client;
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
      // whatever happened while we were not listening
      this.emit({ kind: 'reset' });
    } catch {
      lost();
    }
  }

  private emit(change: UserChange): void {
    for (const l of this.listeners) l(change);
  }

  private async query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(text, values);
    } catch (err) {
      throw postgresError(err, this.location);
    }
  }

  private async transaction<T>(body: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw postgresError(err, this.location);
    }
    try {
      await client.query('BEGIN');
      const out = await body(client);
      await client.query('COMMIT');
      return out;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err instanceof UserError ? err : postgresError(err, this.location);
    } finally {
      client.release();
    }
  }
}

/** A database error a user can cause (wrong address, server down, no permission) as one line. */
function postgresError(err: unknown, location: string): Error {
  const e = err as { code?: string; message?: string };
  const known = ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNRESET', 'ENOENT', 'EACCES'];
  // SQLSTATE classes 08 (connection), 28 (authorisation), 3D (no such database), 42501 (no privilege), 53 (resources)
  if ((e.code && (known.includes(e.code) || /^(08|28|3D|53)/.test(e.code) || e.code === '42501')) || /timeout|terminat/i.test(e.message ?? '')) {
    return new DatabaseUnavailableError(`PostgreSQL at ${location}: ${e.message ?? e.code}`);
  }
  return err instanceof Error ? err : new Error(String(err));
}

/** postgres://user:secret@host/db → postgres://user@host/db */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.password = '';
    return u.toString();
  } catch {
    return url.replace(/:[^:@/]*@/, '@');
  }
}

// ---- shared -----------------------------------------------------------------------------------

function checkSchemaVersion(applied: number, known: number, location: string): void {
  if (applied > known) {
    throw new UserError(`user database ${location} has schema version ${applied}, this outfitrec knows up to ${known}: it was made by a newer version`);
  }
}

/**
 * Meta rows a new database needs, after checking an existing one: a database made for another run
 * (or another model shape) would give meaningless anchors.
 */
function metaToAdd(rows: ReadonlyArray<{ key: string; value: string }>, shape: StoreShape, maxId: number | null, location: string): Array<[string, string]> {
  const want: Record<string, string> = {
    runUsers: String(shape.runUsers),
    anchorsPerUser: String(shape.anchorsPerUser),
    dim: String(shape.dim),
    runFingerprint: shape.runFingerprint,
  };
  const have = new Map(rows.map((r) => [r.key, r.value]));
  const add: Array<[string, string]> = [];
  for (const [k, v] of Object.entries(want)) {
    if (!have.has(k) && rows.length === 0) add.push([k, v]);
    else if (have.get(k) !== v) {
      throw new UserError(
        `user database ${location} belongs to another run or model: ${k} is ${have.get(k) ?? '(missing)'}, this run has ${v}` + ' (use --db to choose another database)',
      );
    }
  }
  // files made before the counter existed continue after their highest id
  if (!have.has('next_user_id')) add.push(['next_user_id', String(Math.max(shape.runUsers, maxId === null ? 0 : Number(maxId) + 1))]);
  return add;
}

function checkRecord(record: NewUserRecord, shape: StoreShape): void {
  const expected = shape.anchorsPerUser * shape.dim;
  if (record.anchors.length !== expected) throw new Error(`anchors have ${record.anchors.length} values, expected K*d = ${expected}`);
  for (let i = 0; i < record.anchors.length; i++) {
    if (!Number.isFinite(record.anchors[i])) throw new Error(`anchor value ${i} is not finite`);
  }
}

function newUser(id: number, record: NewUserRecord): StoredUser {
  return {
    id,
    anchors: Float32Array.from(record.anchors),
    outfits: record.outfits.map((o) => [...o]),
    strategy: record.strategy,
    label: record.label ?? null,
    createdAt: new Date().toISOString(),
  };
}

function fromRow(row: UserRow, shape: StoreShape, location: string): StoredUser {
  const anchors = blobToAnchors(row.anchors);
  if (anchors.length !== shape.anchorsPerUser * shape.dim) {
    throw new UserError(`${location}: user ${row.id} has ${anchors.length} anchor values, expected ${shape.anchorsPerUser * shape.dim}`);
  }
  return {
    id: Number(row.id),
    anchors,
    outfits: JSON.parse(row.outfits) as number[][],
    strategy: row.strategy,
    label: row.label,
    createdAt: row.created_at,
  };
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
