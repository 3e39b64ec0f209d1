/**
 * A throwaway PostgreSQL cluster for tests: initdb into a temp folder, a server that listens on a
 * unix socket in that folder only (no TCP port at all), trust authentication for the `postgres`
 * role, fsync off. Run as the `postgres` system user when the tests run as root (PostgreSQL refuses
 * to run as root). `stop()` stops the server and removes the folder.
 *
 * Where no PostgreSQL is installed `startPgCluster` returns the reason, and the tests skip with it;
 * .ci/run installs Debian's `postgresql`, so in CI they run.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';

export interface PgCluster {
  /** Connection address of database `db`: postgres://postgres@localhost/db?host=<socket dir>. */
  url(db: string): string;
  /** Creates an empty database and returns its address. */
  createDatabase(name: string): Promise<string>;
  stop(): void;
}

/** The folder of initdb / pg_ctl: the newest /usr/lib/postgresql/N/bin, else the PATH's initdb. */
export function findPgBin(): string | null {
  const base = '/usr/lib/postgresql';
  if (existsSync(base)) {
    const versions = readdirSync(base)
      .filter((v) => existsSync(join(base, v, 'bin', 'initdb')) && existsSync(join(base, v, 'bin', 'pg_ctl')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions.length > 0) return join(base, versions[0], 'bin');
  }
  const which = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' });
  const initdb = which.status === 0 ? which.stdout.trim() : '';
  return initdb && existsSync(join(initdb, '..', 'pg_ctl')) ? join(initdb, '..') : null;
}

/** Starts a cluster, or says why it cannot. */
export async function startPgCluster(): Promise<PgCluster | { skip: string }> {
  const bin = findPgBin();
  if (!bin) return { skip: 'PostgreSQL is not installed (no initdb/pg_ctl; Debian package postgresql): PostgreSQL tests skipped' };
  const asRoot = process.getuid?.() === 0;
  let uid: number | undefined;
  let gid: number | undefined;
  if (asRoot) {
    const id = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
    const g = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
    if (id.status !== 0) return { skip: 'running as root and there is no postgres system user to run PostgreSQL as: PostgreSQL tests skipped' };
    uid = Number(id.stdout.trim());
    gid = Number(g.stdout.trim());
  }
  const dir = mkdtempSync('/tmp/outfitrec-pg-');
  if (uid !== undefined && gid !== undefined) chownSync(dir, uid, gid);
  const data = join(dir, 'data');
  const run = (tool: string, args: string[]): void => {
    const argv = asRoot ? ['runuser', '-u', 'postgres', '--', join(bin, tool), ...args] : [join(bin, tool), ...args];
    execFileSync(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
  };
  let started = false;
  const stop = (): void => {
    if (started) {
      started = false;
      try {
        run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    run('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
    const settings = [`listen_addresses=''`, `unix_socket_directories='${dir}'`, 'fsync=off', 'synchronous_commit=off', 'full_page_writes=off', 'max_connections=40', 'shared_buffers=16MB'];
    run('pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), '-w', '-t', '60', '-o', settings.map((s) => `-c ${s}`).join(' '), 'start']);
    started = true;
  } catch (err) {
    stop();
    const e = err as { stderr?: Buffer; message: string };
    return { skip: `could not start a throwaway PostgreSQL cluster: ${(e.stderr?.toString() || e.message).trim().split('\n')[0]}` };
  }
  const url = (db: string): string => `postgres://postgres@localhost/${db}?host=${encodeURIComponent(dir)}`;
  return {
    url,
    async createDatabase(name: string): Promise<string> {
      const client = new pg.Client({ connectionString: url('postgres') });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return url(name);
    },
    stop,
  };
}
