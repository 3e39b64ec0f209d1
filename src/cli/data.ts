/** `outfitrec data …`: the data commands. Each subcommand module exports `register(dataCommand)`. */
import type { Command } from 'commander';

const subcommandModules: Array<() => Promise<{ register: (data: Command) => void }>> = [
  () => import('./data-stats.js'),
  () => import('./data-synth.js'),
];

export async function registerAsync(program: Command): Promise<void> {
  const data = program.command('data').description('read, check and synthesise Polyvore-U datasets');
  for (const load of subcommandModules) (await load()).register(data);
}
