import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { loadPolyvoreSet } from '../../src/data/polyvore.js';
import { DEFAULT_FASHION_MNIST_DIR, hasFashionMnist, loadFashionMnist } from '../../src/data/synth/fashion-mnist.js';
import { generateSynthetic, type SynthReport } from '../../src/data/synth/generate.js';
import { drawProcedural, fashionMnistSource, itemName, renderItem } from '../../src/data/synth/images.js';
import { CATEGORY_CLASSES } from '../../src/data/synth/model.js';
import { loadFalseNegativeFlags, loadOracle } from '../../src/data/synth/oracle.js';
import { planPreset, findPreset } from '../../src/data/synth/presets.js';
import { NEGATIVES_PER_POSITIVE, SPLITS, type OutfitTable, type PolyvoreSet } from '../../src/data/types.js';
import { UserError } from '../../src/errors.js';
import { evaluateRanking } from '../../src/eval/metrics.js';

const scratch = mkdtempSync(join(tmpdir(), 'outfitrec-synth-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const SETS = ['630', '53', '519', '32'];
const rootA = join(scratch, 'a');
const rootB = join(scratch, 'b');
let report: SynthReport;
const sets = new Map<string, PolyvoreSet>();

/** Every file under `dir`, relative paths, sorted. */
function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}

const row = (t: OutfitTable, r: number): number[] => Array.from(t.items.subarray(r * t.slots, (r + 1) * t.slots));
const key = (items: number[]): string => [...items].sort((a, b) => a - b).join(',');
const pattern = (items: number[]): string => items.map((x) => (x === -1 ? '-' : 'x')).join('');

before(async () => {
  // procedural pictures: the same code path as Fashion-MNIST after the grey picture, and no 26 MB gunzip
  report = await generateSynthetic({ preset: 'tiny', out: rootA, images: 'procedural' });
  for (const s of SETS) sets.set(s, loadPolyvoreSet(rootA, s, { requireImages: true }));
});

describe('data synth: layout', () => {
  it('writes the method.md §6.1 layout for the four sets, loadable by the reader with every image present', () => {
    assert.deepEqual(report.sets.map((s) => s.set), SETS);
    for (const s of SETS) {
      const set = sets.get(s)!;
      const r = report.sets.find((x) => x.set === s)!;
      assert.equal(set.numUsers, r.users);
      assert.equal(set.numUsers, s === '630' || s === '519' ? 8 : 4);
      for (const split of SPLITS) {
        assert.equal(set.splits[split].posi.users.length, r.positives[split]);
        assert.ok(set.splits[split].negaHard, `${s} ${split} hard negatives`);
      }
      assert.equal(set.fitb!.users.length, 4 * set.splits.test.posi.users.length);
      // every user has outfits in every split
      for (const split of SPLITS) assert.equal(new Set(set.splits[split].posi.users).size, set.numUsers);
    }
    const head = (file: string): string => readFileSync(join(rootA, file), 'utf8').split('\n')[0];
    assert.equal(head('tuples_630/tuples_train_posi'), 'user,top,bottom,shoe');
    assert.equal(head('tuples_519/tuples_test_nega_hard'), 'user,top,top,bottom,shoe');
    assert.equal(head('tuples_32/fill_in_blank_test'), Array(4).fill('user,top,top,bottom,shoe').join(','));
    // image list entries are bare 40-hex names; the files are 28x28 RGB PNGs
    const names = readFileSync(join(rootA, 'tuples_630/image_list_top'), 'utf8').trim().split('\n');
    assert.ok(names.every((n) => /^[0-9a-f]{40}$/.test(n)));
    assert.deepEqual(readdirSync(join(rootA, 'images')), ['28x28']);
  });

  it('writes RGB 28x28 PNGs', async () => {
    const name = readFileSync(join(rootA, 'tuples_519/image_list_shoe'), 'utf8').split('\n')[0];
    const meta = await sharp(join(rootA, 'images/28x28', `${name}.png`)).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height, meta.channels], ['png', 28, 28, 3]);
  });

  it('mixes one- and two-top outfits in the variable-length sets only', () => {
    for (const s of ['519', '32']) {
      const t = sets.get(s)!.splits.train.posi;
      const two = Array.from({ length: t.users.length }, (_, r) => row(t, r)[1] !== -1).filter(Boolean).length;
      assert.ok(two > 0.2 * t.users.length && two < 0.9 * t.users.length, `${s}: ${two} of ${t.users.length} two-top rows`);
    }
    assert.equal(sets.get('630')!.splits.train.posi.slots, 3);
  });
});

describe('data synth: determinism', () => {
  it('gives byte-identical files for the same seed and options', async () => {
    await generateSynthetic({ preset: 'tiny', out: rootB, images: 'procedural' });
    const files = listFiles(rootA).filter((f) => !f.startsWith('.cache'));
    assert.deepEqual(listFiles(rootB), files);
    for (const f of files) assert.ok(readFileSync(join(rootA, f)).equals(readFileSync(join(rootB, f))), `${f} differs`);
  });
});

describe('data synth: splits and candidates', () => {
  it("keeps each user's train, val and test items disjoint", () => {
    for (const s of SETS) {
      const set = sets.get(s)!;
      const itemsOf = SPLITS.map(() => new Map<number, Set<number>>());
      SPLITS.forEach((split, k) => {
        const t = set.splits[split].posi;
        for (let r = 0; r < t.users.length; r++) {
          const m = itemsOf[k];
          if (!m.has(t.users[r])) m.set(t.users[r], new Set());
          for (const it of row(t, r)) if (it >= 0) m.get(t.users[r])!.add(it);
        }
      });
      for (let u = 0; u < set.numUsers; u++) {
        for (let a = 0; a < 3; a++) {
          for (let b = a + 1; b < 3; b++) {
            const shared = [...itemsOf[a].get(u)!].filter((x) => itemsOf[b].get(u)!.has(x));
            assert.deepEqual(shared, [], `set ${s} user ${u}: ${SPLITS[a]} and ${SPLITS[b]} share items`);
          }
        }
      }
    }
  });

  it('writes 10 negatives per positive with its user and slot pattern; random ones never copy a positive, hard ones are other users\' positives', () => {
    for (const s of SETS) {
      const set = sets.get(s)!;
      for (const split of SPLITS) {
        const { posi, nega, negaHard } = set.splits[split];
        assert.equal(nega.users.length, NEGATIVES_PER_POSITIVE * posi.users.length);
        assert.equal(negaHard!.users.length, NEGATIVES_PER_POSITIVE * posi.users.length);
        const positiveKeys = new Set<string>();
        const ownersOf = new Map<string, Set<number>>();
        for (let r = 0; r < posi.users.length; r++) {
          const k = key(row(posi, r));
          positiveKeys.add(k);
          if (!ownersOf.has(k)) ownersOf.set(k, new Set());
          ownersOf.get(k)!.add(posi.users[r]);
        }
        // the split's pool per slot category: items of its positives
        const pool = new Set(posi.items);
        for (let r = 0; r < nega.users.length; r++) {
          const p = Math.floor(r / NEGATIVES_PER_POSITIVE);
          const u = posi.users[p];
          const pos = row(posi, p);
          const rand = row(nega, r);
          const hard = row(negaHard!, r);
          assert.equal(nega.users[r], u);
          assert.equal(negaHard!.users[r], u);
          assert.equal(pattern(rand), pattern(pos));
          assert.equal(pattern(hard), pattern(pos));
          assert.ok(!positiveKeys.has(key(rand)), `${s} ${split}: random negative row ${r} copies a positive`);
          assert.ok(rand.every((x) => x === -1 || pool.has(x)), `${s} ${split}: random negative row ${r} uses an item outside the split pool`);
          const present = rand.filter((x) => x >= 0);
          assert.equal(new Set(present).size, present.length, 'an outfit never repeats an item');
          const owners = ownersOf.get(key(hard));
          assert.ok(owners, `${s} ${split}: hard negative row ${r} is no positive of the split`);
          assert.ok([...owners].some((o) => o !== u), `${s} ${split}: hard negative row ${r} belongs to its own user`);
          assert.ok(!owners.has(u), `${s} ${split}: hard negative row ${r} is one of the user's own outfits`);
        }
      }
    }
  });

  it("reuses the user's own items of other splits no more in negatives than in positives (method.md §6.3 \"No item reuse\")", () => {
    // share of rows holding an item of the user's positives in another split: the leak a person
    // could read off the user's history. Positives have none by construction; every candidate kind
    // must match them within binomial noise (3 standard errors of the pooled share).
    const reuseShare = (t: OutfitTable, own: Array<Set<number>>): number => {
      let hits = 0;
      for (let r = 0; r < t.users.length; r++) if (row(t, r).some((x) => x >= 0 && own[t.users[r]].has(x))) hits++;
      return hits / t.users.length;
    };
    let negativeRows = 0;
    for (const s of SETS) {
      const set = sets.get(s)!;
      for (const split of SPLITS) {
        const own = Array.from({ length: set.numUsers }, () => new Set<number>());
        for (const other of SPLITS) {
          if (other === split) continue;
          const t = set.splits[other].posi;
          for (let r = 0; r < t.users.length; r++) for (const x of row(t, r)) if (x >= 0) own[t.users[r]].add(x);
        }
        const { posi, nega, negaHard } = set.splits[split];
        const p = reuseShare(posi, own);
        const kinds: Array<[string, OutfitTable]> = [['random', nega], ['hard', negaHard!]];
        if (split === 'test') kinds.push(['fill-in-the-blank', set.fitb!]);
        for (const [kind, t] of kinds) {
          const q = reuseShare(t, own);
          const pooled = (p * posi.users.length + q * t.users.length) / (posi.users.length + t.users.length);
          const se = Math.sqrt(pooled * (1 - pooled) * (1 / posi.users.length + 1 / t.users.length));
          assert.ok(Math.abs(q - p) <= 3 * se, `set ${s} ${split} ${kind}: ${(100 * q).toFixed(2)} % of rows reuse the user's other-split items, positives ${(100 * p).toFixed(2)} %`);
          negativeRows += t.users.length;
        }
      }
    }
    assert.ok(negativeRows > 1000, 'enough candidates to see a leak');
  });

  it('writes one FITB question per test positive: the positive first, then 3 distinct outfits differing in one slot', () => {
    for (const s of SETS) {
      const set = sets.get(s)!;
      const { posi } = set.splits.test;
      const fitb = set.fitb!;
      for (let q = 0; q < posi.users.length; q++) {
        const answer = row(fitb, 4 * q);
        assert.deepEqual(answer, row(posi, q));
        const replaced = new Set<number>();
        let changedSlot = -1;
        for (let k = 1; k < 4; k++) {
          assert.equal(fitb.users[4 * q + k], posi.users[q]);
          const cand = row(fitb, 4 * q + k);
          const diff = cand.map((x, j) => (x === answer[j] ? -1 : j)).filter((j) => j >= 0);
          assert.equal(diff.length, 1, `${s} question ${q} candidate ${k} differs in ${diff.length} slots`);
          if (changedSlot === -1) changedSlot = diff[0];
          assert.equal(diff[0], changedSlot, 'all candidates of a question blank the same slot');
          assert.notEqual(answer[changedSlot], -1, 'an absent slot is never blanked');
          replaced.add(cand[changedSlot]);
          // same category: the reader already maps slot -> category; check the global id's category
          assert.equal(set.catalog.category[cand[changedSlot]], set.slotCategories[changedSlot]);
        }
        assert.equal(replaced.size, 3);
      }
    }
  });

  it('does not give two items the same name unless they are the same picture', () => {
    const seen = new Map<string, string>();
    for (const s of SETS) {
      const lines = readFileSync(join(rootA, `oracle/tuples_${s}/items.tsv`), 'utf8').trim().split('\n').slice(1);
      assert.equal(lines.length, sets.get(s)!.catalog.names.length);
      for (const line of lines) {
        const [name, ...attrs] = line.split('\t');
        const desc = attrs.join('\t');
        if (seen.has(name)) assert.equal(seen.get(name), desc, `${name} names two different items`);
        seen.set(name, desc);
      }
    }
  });
});

describe('data synth: oracle', () => {
  it('is null for a root without an oracle', () => {
    const plain = join(scratch, 'plain');
    mkdirSync(plain, { recursive: true });
    assert.equal(loadOracle(plain), null);
    assert.equal(loadFalseNegativeFlags(plain, '630', 'test', 'nega'), null);
  });

  it('scores positives above random negatives, and above hard negatives, from the files alone', () => {
    const oracle = loadOracle(rootA)!;
    assert.ok(oracle);
    for (const s of SETS) {
      const set = sets.get(s)!;
      const { posi, nega, negaHard } = set.splits.test;
      const up = oracle.utility(set, posi);
      const un = oracle.utility(set, nega);
      const uh = oracle.utility(set, negaHard!);
      const mean = (a: Float32Array): number => a.reduce((x, y) => x + y, 0) / a.length;
      assert.ok(up.every(Number.isFinite) && un.every(Number.isFinite) && uh.every(Number.isFinite));
      assert.ok(mean(up) > mean(un), `${s}: positives ${mean(up)} vs random negatives ${mean(un)}`);
      assert.ok(mean(up) > mean(uh), `${s}: positives ${mean(up)} vs hard negatives ${mean(uh)}`);
      const users = new Int32Array([...posi.users, ...nega.users]);
      const labels = new Uint8Array(users.length).fill(1, 0, posi.users.length);
      const auc = evaluateRanking(users, new Float32Array([...up, ...un]), labels).auc;
      assert.ok(auc > 0.8, `${s}: oracle AUC ${auc} with random negatives`);
    }
  });

  it('writes false-negative flags aligned with the negative files, agreeing with the oracle and the user medians', () => {
    const oracle = loadOracle(rootA)!;
    for (const s of SETS) {
      const set = sets.get(s)!;
      for (const split of SPLITS) {
        const { posi } = set.splits[split];
        const up = oracle.utility(set, posi);
        const byUser = new Map<number, number[]>();
        posi.users.forEach((u, r) => (byUser.get(u) ?? byUser.set(u, []).get(u)!).push(up[r]));
        const median = new Map<number, number>();
        for (const [u, v] of byUser) {
          v.sort((a, b) => a - b);
          const m = v.length >> 1;
          median.set(u, v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2);
        }
        for (const kind of ['nega', 'nega_hard'] as const) {
          const table = kind === 'nega' ? set.splits[split].nega : set.splits[split].negaHard!;
          const flags = loadFalseNegativeFlags(rootA, s, split, kind)!;
          assert.equal(flags.length, table.users.length, `${s} ${split} ${kind}: one flag per negative row`);
          const un = oracle.utility(set, table);
          for (let r = 0; r < flags.length; r++) {
            const m = median.get(table.users[r])!;
            // the files were computed in float64, the oracle returns float32: only near-ties may differ
            if (Math.abs(un[r] - m) > 1e-3 * Math.max(1, Math.abs(m))) assert.equal(flags[r], un[r] > m ? 1 : 0, `${s} ${split} ${kind} row ${r}`);
          }
        }
      }
    }
  });

  it('names the bad line of a malformed flags file', () => {
    const root = join(scratch, 'badflags');
    mkdirSync(join(root, 'oracle/tuples_630'), { recursive: true });
    writeFileSync(join(root, 'oracle/tuples_630/test_nega_fn'), '0\n1\n2\n');
    assert.throws(() => loadFalseNegativeFlags(root, '630', 'test', 'nega'), /test_nega_fn:3: expected one 0 or 1/);
  });
});

describe('data synth: options', () => {
  it('rejects bad options with a UserError', async () => {
    const out = join(scratch, 'bad');
    await assert.rejects(generateSynthetic({ preset: 'nope', out }), (e) => e instanceof UserError && /unknown preset 'nope'/.test(e.message));
    await assert.rejects(generateSynthetic({ preset: 'tiny', out: '' }), (e) => e instanceof UserError && /--out/.test(e.message));
    await assert.rejects(generateSynthetic({ preset: 'tiny', out, users: 1 }), UserError);
    await assert.rejects(generateSynthetic({ preset: 'tiny', out, seed: -3 }), UserError);
    await assert.rejects(generateSynthetic({ preset: 'syn-630', out, users: 10, scale: 0.5 }), UserError);
    await assert.rejects(generateSynthetic({ preset: 'tiny', out, images: 'fashion-mnist', fashionMnistDir: join(scratch, 'nowhere') }), /Fashion-MNIST not found/);
    await assert.rejects(generateSynthetic({ preset: 'tiny', out, knobs: { temperature: 0 } }), UserError);
  });

  it('refuses to mix ground truths in one root, or to overwrite a set it did not write', async () => {
    await assert.rejects(generateSynthetic({ preset: 'tiny', out: rootA, images: 'procedural', seed: 2 }), (e) => e instanceof UserError && /seed 1 vs 2/.test(e.message));
    const foreign = join(scratch, 'foreign');
    mkdirSync(join(foreign, 'tuples_630'), { recursive: true });
    await assert.rejects(generateSynthetic({ preset: 'tiny', out: foreign, images: 'procedural' }), /refusing to overwrite/);
    assert.deepEqual(readdirSync(join(foreign, 'tuples_630')), []);
  });

  it('scales user counts: default 100 users for syn-630, real counts at --scale 1, --users follows the first set', () => {
    const users = (name: string, o: Parameters<typeof planPreset>[1]): number[] => planPreset(findPreset(name), o).map((p) => p.users);
    assert.deepEqual(users('syn-all', {}), [100, 10, 82, 10]);
    assert.deepEqual(users('syn-all', { scale: 1 }), [630, 53, 519, 32]);
    assert.deepEqual(users('syn-all', { users: 630 }), [630, 53, 519, 32]);
    assert.deepEqual(users('syn-53', { users: 53 }), [53]);
    assert.deepEqual(users('tiny', {}), [8, 4, 8, 4]);
    assert.deepEqual(users('tiny', { users: 16 }), [16, 8, 16, 8]);
  });
});

describe('data synth: pictures', () => {
  it('draws a distinct, deterministic procedural picture per class', () => {
    const all = CATEGORY_CLASSES.flat();
    const pics = all.map((c) => drawProcedural(c, 3));
    for (const [i, p] of pics.entries()) {
      assert.equal(p.length, 784);
      assert.ok(p.some((v) => v > 0) && p.some((v) => v === 0), `class ${all[i]} has ink and background`);
      assert.deepEqual(p, drawProcedural(all[i], 3));
    }
    assert.equal(new Set(pics.map((p) => Buffer.from(p).toString('hex'))).size, all.length);
  });

  it('reads Fashion-MNIST and tints a picture on white', { skip: !hasFashionMnist(DEFAULT_FASHION_MNIST_DIR) && 'Fashion-MNIST not installed' }, () => {
    const data = loadFashionMnist(DEFAULT_FASHION_MNIST_DIR);
    assert.equal(data.count, 70000);
    assert.deepEqual(data.byLabel.map((l) => l.length), Array(10).fill(7000));
    const source = fashionMnistSource(data);
    const item = { fashionClass: 1, picture: 0, colour: 4, mirrored: false };
    const rgb = renderItem(source, item);
    const grey = source.grey(1, 0);
    const bg = grey.indexOf(0);
    assert.deepEqual(Array.from(rgb.subarray(bg * 3, bg * 3 + 3)), [255, 255, 255]);
    const ink = grey.indexOf(255) >= 0 ? grey.indexOf(255) : grey.indexOf(Math.max(...grey));
    const [r, g, b] = Array.from(rgb.subarray(ink * 3, ink * 3 + 3));
    assert.ok(r > g && r > b, 'red ink');
    const mirrored = renderItem(source, { ...item, mirrored: true });
    assert.deepEqual(Array.from(mirrored.subarray(0, 3)), Array.from(rgb.subarray(27 * 3, 28 * 3)));
    assert.notEqual(itemName(source, item), itemName(source, { ...item, mirrored: true }));
    assert.ok(statSync(DEFAULT_FASHION_MNIST_DIR).isDirectory());
  });
});
