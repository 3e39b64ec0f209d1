/**
 * Starts a throwaway PostgreSQL cluster (test/helpers/pg-cluster.ts: unix socket in a temp
 * folder, no TCP port), creates database `bench`, prints its URL and keeps it up until
 * SIGINT/SIGTERM, then removes it. For `bench/serve.ts --db URL --replicas N`:
 *
 *   node --import tsx bench/pg-cluster.ts > url.txt &   # first line: the URL
 */
import { startPgCluster } from '../test/helpers/pg-cluster.js';

const cluster = await startPgCluster();
if ('skip' in cluster) {
  process.stderr.write(`bench/pg-cluster: ${cluster.skip}\n`);
  process.exit(1);
}
const url = await cluster.createDatabase('bench');
process.stdout.write(`${url}\n`);
const stop = (): void => {
  cluster.stop();
  process.exit(0);
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
setInterval(() => undefined, 1 << 30);
