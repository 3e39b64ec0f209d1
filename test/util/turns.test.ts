/** util/turns.ts: at most `limit` holders, the others served in arrival order. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Turns } from '../../src/util/turns.js';

describe('Turns (first come, first served)', () => {
  test('limit 1: one holder at a time, waiting callers in arrival order, releasing twice changes nothing', async () => {
    const turns = new Turns(1);
    const order: number[] = [];
    let holders = 0;
    let most = 0;
    const job = async (i: number, ms: number): Promise<void> => {
      const release = await turns.acquire();
      holders++;
      most = Math.max(most, holders);
      order.push(i);
      await new Promise((r) => setTimeout(r, ms));
      holders--;
      release();
      release();
    };
    // the first holds longest: a later, shorter job must still wait for it
    await Promise.all([job(0, 30), job(1, 1), job(2, 10), job(3, 1)]);
    assert.deepEqual(order, [0, 1, 2, 3]);
    assert.equal(most, 1);
    assert.deepEqual(turns.load, { active: 0, waiting: 0 });
  });

  test('limit 2: two at once, the third waits for the first release', async () => {
    const turns = new Turns(2);
    const a = await turns.acquire();
    const b = await turns.acquire();
    let third = false;
    const c = turns.acquire().then((release) => {
      third = true;
      return release;
    });
    await new Promise((r) => setImmediate(r));
    assert.equal(third, false);
    assert.deepEqual(turns.load, { active: 2, waiting: 1 });
    b();
    (await c)();
    assert.equal(third, true);
    a();
    assert.deepEqual(turns.load, { active: 0, waiting: 0 });
  });

  test('a limit below 1 or not an integer is refused', () => {
    assert.throws(() => new Turns(0), /positive integer/);
    assert.throws(() => new Turns(1.5), /positive integer/);
  });
});
