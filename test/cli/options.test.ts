/**
 * The command line's surface: --version, defaults in --help, the run config's JSON Schema and the
 * example config checked against it, enum errors that list the allowed values, train's renamed
 * --train-negatives with its deprecated spelling, and the compact `data stats`.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { METHODS, parseRunConfig } from '../../src/config.js';
import { FIXTURE, assertOneLineError, runCli, scratchDir } from '../reliability/helpers.js';

const REPO = new URL('../../', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };

type Schema = {
  type?: string;
  enum?: unknown[];
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
};

/** The JSON Schema keywords the generated schema uses, enough to check a config file against it. */
function schemaProblems(value: unknown, schema: Schema, path = '$'): string[] {
  const problems: string[] = [];
  const t = schema.type;
  if (t === 'object') {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return [`${path}: not an object`];
    const obj = value as Record<string, unknown>;
    for (const key of schema.required ?? []) if (!(key in obj)) problems.push(`${path}.${key}: required`);
    for (const [key, v] of Object.entries(obj)) {
      const sub = schema.properties?.[key];
      if (sub) problems.push(...schemaProblems(v, sub, `${path}.${key}`));
      else if (schema.additionalProperties === false) problems.push(`${path}.${key}: not allowed`);
    }
  } else if (t === 'string' && typeof value !== 'string') problems.push(`${path}: not a string`);
  else if ((t === 'number' || t === 'integer') && (typeof value !== 'number' || (t === 'integer' && !Number.isInteger(value)))) problems.push(`${path}: not a ${t}`);
  else if (t === 'boolean' && typeof value !== 'boolean') problems.push(`${path}: not a boolean`);
  if (schema.enum && !schema.enum.includes(value)) problems.push(`${path}: not one of ${schema.enum.join(', ')}`);
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) problems.push(`${path}: below ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum) problems.push(`${path}: above ${schema.maximum}`);
    if (schema.exclusiveMinimum !== undefined && value <= schema.exclusiveMinimum) problems.push(`${path}: not above ${schema.exclusiveMinimum}`);
  }
  return problems;
}

describe('command-line surface', () => {
  it('--version prints the package version', async () => {
    const r = await runCli(['--version']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout.trim(), pkg.version);
  });

  it('--help of train and demo shows the defaults a run gets', async () => {
    const train = (await runCli(['train', '--help'])).stdout.replace(/\s+/g, ' ');
    for (const d of ['objective: lpae | softmax | softmax+cl | fnd | fnd+cl (default: softmax)', 'positives per step (default: 64)', '(default: 20)', 'initial learning rate (default: 0.002)', 'training negatives: random | mixed (5 random + 5 hard) (default: random)']) {
      assert.ok(train.includes(d), `train --help shows ${d}`);
    }
    assert.doesNotMatch(train, /--negatives /, 'the deprecated spelling is not advertised');
    const demo = (await runCli(['demo', '--help'])).stdout.replace(/\s+/g, ' ');
    assert.ok(demo.includes('epochs of each run (default: "6")'));
  });

  it('config schema is the zod schema as JSON Schema, and docs/config.example.json passes it and the parser', async () => {
    const r = await runCli(['config', 'schema']);
    assert.equal(r.code, 0);
    const schema = JSON.parse(r.stdout) as Schema & { properties: Record<string, Schema> };
    assert.deepEqual(schema.properties.method.enum, [...METHODS]);
    assert.equal(schema.additionalProperties, false);
    assert.ok(!(schema.properties.model.required ?? []).includes('numUsers'));
    const example = JSON.parse(readFileSync(join(REPO, 'docs', 'config.example.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(schemaProblems(example, schema), []);
    parseRunConfig(example);
    // the checker can fail: a typo and a bad enum value are found
    assert.deepEqual(schemaProblems({ ...example, epoch: 3, method: 'fnd-cl' }, schema), ["$.method: not one of lpae, softmax, softmax+cl, fnd, fnd+cl", '$.epoch: not allowed']);
  });

  it('an enum error names the field and lists the allowed values', async () => {
    const out = join(scratchDir('options'), 'run');
    assertOneLineError(await runCli(['train', '--data', FIXTURE, '--set', '630', '--out', out, '--method', 'fnd-cl']), /'method'.*"lpae"\|"softmax"\|"softmax\+cl"\|"fnd"\|"fnd\+cl"/, assert);
    assertOneLineError(await runCli(['eval', '--data', FIXTURE, '--set', '630', '--random', '--split', 'dev']), /--split: 'dev' is not one of train, val, test/, assert);
    assertOneLineError(await runCli(['eval', '--data', FIXTURE, '--set', '999', '--random']), /tuples_999: set folder not found .*; sets in .*fhn-mini: 519, 630\)$/, assert);
  });

  it("train's --train-negatives, and --negatives as its deprecated spelling with a one-line warning", async () => {
    const out = join(scratchDir('options-neg'), 'run');
    const args = ['train', '--data', FIXTURE, '--set', '630', '--out', out, '--quiet'];
    assertOneLineError(await runCli([...args, '--train-negatives', 'hard']), /negatives\.kind.*"random"\|"mixed"/, assert);
    const old = await runCli([...args, '--negatives', 'hard']);
    assert.equal(old.code, 1);
    const lines = old.stderr.trim().split('\n');
    assert.equal(lines.length, 2, old.stderr);
    assert.match(lines[0], /train --negatives is deprecated: use --train-negatives/);
    assert.match(lines[1], /negatives\.kind.*"random"\|"mixed"/);
  });

  it('data stats prints a short summary; --detail the full table', async () => {
    const short = await runCli(['data', 'stats', FIXTURE, '--set', '630']);
    assert.equal(short.code, 0);
    assert.deepEqual(short.stdout.trim().split('\n').slice(1), [
      '  positives  train 5, val 1, test 2; per user in train: mean 1.7, 1..2',
      '  negatives  10 per positive; hard negatives: test',
      '  FITB       2 questions',
    ]);
    const detail = await runCli(['data', 'stats', FIXTURE, '--set', '630', '--detail']);
    assert.match(detail.stdout, /^train\s+5\s+50 \(10 per positive\)/m);
  });
});
