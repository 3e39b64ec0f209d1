/** `outfitrec config schema`: the run configuration's JSON Schema, generated from its zod schema (src/config.ts). */
import type { Command } from 'commander';

export function register(config: Command): void {
  config
    .command('schema')
    .description('print the JSON Schema of a run config file (--config FILE of train); example: docs/config.example.json')
    .action(async () => {
      const { runConfigJsonSchema } = await import('../config.js');
      process.stdout.write(JSON.stringify(runConfigJsonSchema(), null, 2) + '\n');
    });
}
