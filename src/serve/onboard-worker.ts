/**
 * Worker-thread entry of the onboarding pool (onboard-pool.ts): loads the run's model ONCE, takes the
 * serving table the main thread already computed (a copy, no second backbone pass), then fits one
 * new user per message (method.md §5) off the main thread's event loop, projecting outfits as the
 * main thread does (model.projectServing), so both give the same anchors bit for bit.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { setEngineThreads } from '../engine/runtime.js';
import { userErrorOf } from '../errors.js';
import type { ItemInputSource } from '../model/inputs.js';
import { Rng } from '../rng.js';
import { fitAnchorsForNewUser } from '../train/cold-start.js';
import { loadRun } from '../runs/load.js';
import type { OnboardJob, OnboardReply, WorkerInit } from './onboard-pool.js';

async function main(): Promise<void> {
  const init = workerData as WorkerInit;
  setEngineThreads(1);
  const run = await loadRun(init.runDir, { root: init.root, set: init.set, inputs: false });
  const { model } = run;
  const table = init.servingTable;
  const count = init.pools.categoryOf.length;
  if (table.length < count * 3 * model.config.dim || table.length % (3 * model.config.dim) !== 0) {
    throw new Error(`onboard worker: a serving table of ${table.length} values for ${count} items of dimension ${model.config.dim}`);
  }
  // the fit reads only the item count from its inputs: every outfit is projected from the serving table
  const inputs = { count } as ItemInputSource;
  const candidateUsers = Int32Array.from({ length: model.config.numUsers }, (_, i) => i);
  parentPort!.postMessage({ ready: true });
  parentPort!.on('message', (job: OnboardJob) => {
    const reply = (r: OnboardReply, transfer: ArrayBuffer[] = []): void => parentPort!.postMessage(r, transfer);
    fitAnchorsForNewUser(model, inputs, { slots: job.slots, users: new Int32Array(job.items.length / job.slots), items: job.items }, {
      ...init.coldStart,
      strategy: job.strategy,
      rng: new Rng(job.seed).fork(job.fork),
      pools: init.pools,
      candidateUsers,
      // rows of the serving table are global item ids (the cache is built over every item in order)
      projectOutfits: (items, slots) => model.projectServing(table, items, slots),
    }).then(
      (anchors) => reply({ job: job.job, anchors }, [anchors.buffer as ArrayBuffer]),
      (err: unknown) => {
        const userError = userErrorOf(err);
        reply({ job: job.job, error: userError ? userError.message : err instanceof Error ? (err.stack ?? err.message) : String(err), userError: userError !== undefined });
      },
    );
  });
}

main().catch((err: unknown) => {
  parentPort!.postMessage({ failed: err instanceof Error ? err.message : String(err) });
});
