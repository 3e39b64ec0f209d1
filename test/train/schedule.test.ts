import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ReduceOnPlateau } from '../../src/train/schedule.js';
import { Progress, formatSeconds } from '../../src/util/progress.js';

describe('ReduceOnPlateau (val AUC, mode max)', () => {
  const opts = { factor: 0.5, patience: 1, cooldown: 1, threshold: 0, minLr: 0.01 };

  it('halves after patience+1 epochs without improvement, then cools down', () => {
    const s = new ReduceOnPlateau(opts, 0.1);
    assert.equal(s.step(0.6), 0.1); // best
    assert.equal(s.step(0.6), 0.1); // bad 1 (not > best)
    assert.equal(s.step(0.59), 0.05); // bad 2 > patience → reduce, cooldown 1
    assert.equal(s.step(0.5), 0.05); // cooldown epoch: not counted
    assert.equal(s.step(0.5), 0.05); // bad 1
    assert.equal(s.step(0.5), 0.025); // bad 2 → reduce
    assert.equal(s.snapshot().reductions, 2);
  });

  it('never goes below minLr and restores from a snapshot', () => {
    const s = new ReduceOnPlateau({ ...opts, cooldown: 0, patience: 0 }, 0.02);
    s.step(0.7);
    s.step(0.6);
    assert.equal(s.lr, 0.01);
    s.step(0.6);
    assert.equal(s.lr, 0.01);
    const restored = new ReduceOnPlateau({ ...opts, cooldown: 0, patience: 0 }, 123, s.snapshot());
    assert.equal(restored.lr, 0.01);
    assert.equal(restored.snapshot().best, 0.7);
  });
});

describe('Progress', () => {
  it('plain mode writes periodic lines with rate and ETA', () => {
    let t = 0;
    const lines: string[] = [];
    const stream = { write: (s: string) => lines.push(s) } as unknown as NodeJS.WritableStream;
    const p = new Progress({ label: 'epoch 1/2', total: 10, unit: 'steps', stream, tty: false, intervalMs: 1000, now: () => t });
    for (let i = 0; i < 10; i++) {
      t += 500;
      p.tick(1, `loss 0.5`);
    }
    // the first tick draws, then at most one line per second (t = 1.5, 2.5, 3.5, 4.5 s), plus 10/10
    assert.equal(lines.length, 6);
    assert.match(lines[lines.length - 1], /^epoch 1\/2 10\/10 steps 2\.00 steps\/s ETA 0s loss 0\.5\n$/);
  });

  it('tty mode redraws one line and ends with a newline', () => {
    let t = 0;
    let out = '';
    const stream = { write: (s: string) => (out += s) } as unknown as NodeJS.WritableStream;
    const p = new Progress({ label: 'x', total: 4, stream, tty: true, now: () => t });
    for (let i = 0; i < 4; i++) {
      t += 1000;
      p.tick();
    }
    p.finish('x done');
    assert.equal(out.split('\n').length, 2);
    assert.match(out, /\[#{24}\] 4\/4/);
    assert.ok(out.endsWith('x done\n'));
  });

  it('formats durations', () => {
    assert.equal(formatSeconds(5), '5s');
    assert.equal(formatSeconds(125), '2m05s');
    assert.equal(formatSeconds(3700), '1h01m');
    assert.equal(formatSeconds(NaN), '?');
  });
});
