/** `outfitrec data …`: the data commands. Each subcommand module exports `register(dataCommand)`. */
import type { Command } from 'commander';

export async function register(data: Command): Promise<void> {
  for (const m of [await import('./data-stats.js'), await import('./data-synth.js'), await import('./data-import.js')]) m.register(data);
}
