import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mergeConfig, parseRunConfig, resolveModelConfig } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';
import { cliOverrides } from '../../src/cli/train.js';

const data = { root: '/data', set: '630' };

function configError(raw: unknown): ConfigError {
  try {
    parseRunConfig(raw);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the config to be rejected');
}

describe('run config (src/config.ts)', () => {
  it('fills the defaults', () => {
    const cfg = parseRunConfig({ data });
    assert.equal(cfg.method, 'softmax');
    assert.equal(cfg.negatives.perPositive, 10);
    assert.equal(cfg.cl.tau, 0.2);
    assert.equal(cfg.cl.lambda, 0.1);
    assert.equal(cfg.optim.schedule.factor, 0.5);
    // LPAE samples one negative per positive unless told otherwise
    assert.equal(parseRunConfig({ data, method: 'lpae' }).negatives.perPositive, 1);
  });

  it('rejects unknown keys at any depth, naming the key', () => {
    assert.equal(configError({ data, epochz: 3 }).field, 'epochz');
    assert.equal(configError({ data, optim: { lrr: 1 } }).field, 'optim.lrr');
    assert.equal(configError({ data, optim: { schedule: { patince: 1 } } }).field, 'optim.schedule.patince');
    assert.equal(configError({ data: { ...data, imgSize: 3 } }).field, 'data.imgSize');
    assert.equal(configError({ data, model: { backbone: { widht: 1 } } }).field, 'model.backbone.widht');
    assert.equal(configError({ data, model: { dimm: 1 } }).field, 'model.dimm');
  });

  it('names bad values and missing fields', () => {
    assert.equal(configError({ data, method: 'bpr' }).field, 'method');
    assert.equal(configError({ data, cl: { tau: 0 } }).field, 'cl.tau');
    assert.match(configError({ data: { set: '630' } }).message, /data\.root.*required/);
    assert.equal(configError({ data, method: 'fnd' }).field, 'fnd.teacher');
    assert.equal(configError({ data, method: 'fnd', fnd: { teacher: 't', form: 'indicator', alpha: -1 } }).field, 'fnd.alpha');
    assert.equal(configError({ data, method: 'fnd', fnd: { teacher: 't', phi: 'shuffled' } }).field, 'fnd.phi');
    assert.equal(configError({ data, model: { dim: 30, heads: 4 } }).field, 'model.heads');
  });

  it('completes the model from the data: users, feature size, image size', () => {
    const images = parseRunConfig({ data: { ...data, imageSize: 14 }, model: { backbone: { width: 0.5 } } });
    const m = resolveModelConfig(images, { numUsers: 7 });
    assert.equal(m.numUsers, 7);
    assert.equal(m.backbone.kind, 'convnet');
    assert.equal(m.backbone.imageSize, 14);
    const features = parseRunConfig({ data: { ...data, features: { npy: 'f.npy', names: 'f.txt' } } });
    const f = resolveModelConfig(features, { numUsers: 3, featureDim: 147 });
    assert.equal(f.backbone.kind, 'features');
    assert.equal(f.backbone.inputDim, 147);
  });

  it('--fnd-variant names a form and an α of the right sign (method.md §4 "Variants")', () => {
    const fndOf = (extra: Record<string, string>) => cliOverrides({ out: 'x', ...extra }).fnd as { alpha?: number; form?: string };
    assert.deepEqual(fndOf({ fndVariant: 'paper' }), { teacher: undefined, phi: undefined, form: 'shift', alpha: 1 });
    assert.deepEqual(fndOf({ fndVariant: 'inverted' }), { teacher: undefined, phi: undefined, form: 'shift', alpha: -1 });
    assert.deepEqual(fndOf({ fndVariant: 'indicator' }), { teacher: undefined, phi: undefined, form: 'indicator', alpha: 2 });
    assert.deepEqual(fndOf({ fndVariant: 'distill', alpha: '0.5' }), { teacher: undefined, phi: undefined, form: 'distill', alpha: 0.5 });
    assert.equal(fndOf({ fndVariant: 'paper', alpha: '0.25' }).alpha, 0.25);
    const isField = (field: string) => (e: unknown) => e instanceof ConfigError && e.field === field;
    assert.throws(() => fndOf({ fndVariant: 'paper', alpha: '-1' }), isField('fnd.alpha'));
    assert.throws(() => fndOf({ fndVariant: 'inverted', alpha: '0' }), isField('fnd.alpha'));
    assert.throws(() => fndOf({ fndVariant: 'teacher' }), isField('fnd.variant'));
    // the distill form weights a divergence: α ≥ 0, and φ's row-mean control does not apply
    assert.throws(() => parseRunConfig({ data, method: 'fnd', fnd: { teacher: 't', form: 'distill', alpha: -1 } }), isField('fnd.alpha'));
    assert.throws(() => parseRunConfig({ data, method: 'fnd', fnd: { teacher: 't', form: 'distill', alpha: 1, phi: 'row-mean' } }), isField('fnd.phi'));
  });

  it('command-line options override the config file, unset ones leave it alone', () => {
    const file = { data: { root: '/file', set: '519' }, epochs: 7, optim: { lr: 0.1, kind: 'sgd' }, cl: { lambda: 0.5 } };
    const merged = mergeConfig(file, cliOverrides({ out: 'x', set: '630', lr: '0.01', method: 'softmax+cl' }));
    const cfg = parseRunConfig(merged);
    assert.equal(cfg.data.root, '/file');
    assert.equal(cfg.data.set, '630');
    assert.equal(cfg.epochs, 7);
    assert.equal(cfg.optim.lr, 0.01);
    assert.equal(cfg.optim.kind, 'sgd');
    assert.equal(cfg.cl.lambda, 0.5);
    assert.equal(cfg.method, 'softmax+cl');
    // options not given leave no undefined keys behind, so run defaults still apply
    const bare = mergeConfig({}, cliOverrides({ out: 'x', data: '/d', set: '630' }));
    assert.deepEqual(bare, { data: { root: '/d', set: '630' }, model: { backbone: {} }, fnd: {}, negatives: {}, optim: {} });
    const model = resolveModelConfig(parseRunConfig(bare), { numUsers: 2 });
    assert.equal(model.dim, 64);
    assert.equal(model.anchors, 16);
    assert.equal(model.backbone.imageSize, 14);
  });
});
