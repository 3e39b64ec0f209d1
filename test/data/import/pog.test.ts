import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import sharp from 'sharp';
import { POG_FORMAT, readPog } from '../../../src/data/import/pog.js';
import { UserError } from '../../../src/errors.js';
import { problemMessages } from '../../helpers/data-problems.js';
import { runCli } from '../../reliability/helpers.js';

const scratch = mkdtempSync(join(tmpdir(), 'outfitrec-pog-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
after(() => rmSync(scratch, { recursive: true, force: true }));
const ITEMS = [
  'i1,50010850,https://img.example.invalid/i1.jpg,red shirt, cotton',
  'i2,50012938,https://img.example.invalid/i2.jpg,jeans',
  'i3,50011740,https://img.example.invalid/i3.jpg,sneakers',
  'i4,50010850,https://img.example.invalid/i4.jpg,',
  'i5,50012938,https://img.example.invalid/i5.jpg,skirt',
  'i6,50011740,https://img.example.invalid/i6.jpg,boots',
];
const OUTFITS = ['o1,i1;i2;i3', 'o2,i4;i5', 'o3,i1;i4', 'o4,i6;i2'];
const USERS = ['u1,i1;i2,o1', 'u1,i3,o2', '', 'u2,,o1', 'u3,i4;i9,o2;o3'];

let roots = 0;
/** A POG folder with the three files and an image folder holding the images of `withImages`. */
async function pogTree(lines: { items?: string[]; outfits?: string[]; users?: string[] } = {}, withImages = ['i1', 'i2', 'i3', 'i4', 'i5']): Promise<{ root: string; images: string }> {
  const root = join(scratch, `pog${roots++}`);
  const images = join(root, 'images');
  mkdirSync(images, { recursive: true });
  writeFileSync(join(root, 'item_data.txt'), (lines.items ?? ITEMS).join('\n') + '\n');
  writeFileSync(join(root, 'outfit_data.txt'), (lines.outfits ?? OUTFITS).join('\n') + '\n');
  writeFileSync(join(root, 'user_data.txt'), (lines.users ?? USERS).join('\r\n') + '\r\n');
  for (const [k, id] of withImages.entries()) {
    const ext = k % 2 === 0 ? 'jpg' : 'png';
    const image = sharp({ create: { width: 4, height: 4, channels: 3, background: { r: 30 * k, g: 90, b: 60 } } });
    await (ext === 'jpg' ? image.jpeg() : image.png()).toFile(join(images, `${id}.${ext}`));
  }
  writeFileSync(join(images, 'notes.txt'), 'not an image, ignored');
  return { root, images };
}

describe('POG / iFashion reader (method.md §6.6)', () => {
  it("maps the users' outfits and their items onto ShopRecords", async () => {
    const { root, images } = await pogTree();
    const notes: string[] = [];
    const records = await POG_FORMAT.read(root, { images, note: (n) => notes.push(n) });
    assert.equal(POG_FORMAT.name, 'pog');
    assert.equal(records.origin, root);
    const outfitsFile = join(root, 'outfit_data.txt');
    assert.deepEqual(
      records.outfits.map((o) => [o.user, o.items.join(';'), o.source.file, o.source.line, o.timestamp]),
      [
        ['u1', 'i1;i2;i3', outfitsFile, 1, undefined],
        ['u1', 'i4;i5', outfitsFile, 2, undefined],
        ['u2', 'i1;i2;i3', outfitsFile, 1, undefined],
        ['u3', 'i4;i5', outfitsFile, 2, undefined],
      ],
    );
    // o3 (two shirts) holds one category; o4 is nobody's: neither is imported, nor is i6
    assert.deepEqual(notes, ['1 outfit dropped: fewer than two categories']);
    assert.deepEqual(
      records.items.map((i) => [i.id, i.category, i.title, i.image, i.source.line]),
      [
        ['i1', '50010850', 'red shirt, cotton', join(images, 'i1.jpg'), 1],
        ['i2', '50012938', 'jeans', join(images, 'i2.png'), 2],
        ['i3', '50011740', 'sneakers', join(images, 'i3.jpg'), 3],
        ['i4', '50010850', undefined, join(images, 'i4.png'), 4],
        ['i5', '50012938', 'skirt', join(images, 'i5.jpg'), 5],
      ],
    );
    assert.ok(records.items.every((i) => i.source.file === join(root, 'item_data.txt')));
  });

  it('reports unknown outfits and items, bad lines and missing images with file:line, together', async () => {
    const { root, images } = await pogTree({
      items: [...ITEMS.slice(0, 5), 'i8,50012938', 'i1,50010850,u,dup', 'i7,cat/7,u,bad category'],
      outfits: [...OUTFITS, 'o5,i1;i99', 'o2,i1;i2', 'o6,i7;i1'],
      users: [...USERS, 'u4,,o9', 'u5,o5', 'u5,,o5;o6'],
    }, ['i1', 'i2', 'i3']);
    const files = { items: join(root, 'item_data.txt'), outfits: join(root, 'outfit_data.txt'), users: join(root, 'user_data.txt') };
    let err: unknown;
    await readPog(root, { images }).catch((e: unknown) => (err = e));
    assert.ok(err instanceof UserError);
    assert.deepEqual(problemMessages(err), [
      `${files.users}:7: expected 3 fields: user_id,item_id;item_id;...,outfit_id`,
      `${files.outfits}:6: duplicate outfit_id o2`,
      `${files.items}:6: expected 4 fields: item_id,cate_id,pic_url,title`,
      `${files.items}:7: duplicate item_id i1`,
      `${files.items}:8: item i7: cate_id 'cat/7' is empty or not [A-Za-z0-9 _-]`,
      `${files.users}:6: unknown outfit o9 (not in outfit_data.txt)`,
      `${files.outfits}:5: outfit o5: unknown item i99 (not in item_data.txt)`,
    ]);
    // the structure fixed, the images are checked: i4 has none in the folder
    const fixed = await pogTree({}, ['i1', 'i2', 'i3', 'i5']);
    const imageProblems = problemMessages(await readPog(fixed.root, { images: fixed.images }).then(() => assert.fail('expected a missing image'), (e: unknown) => e));
    assert.deepEqual(imageProblems, [`${join(fixed.root, 'item_data.txt')}:4: item i4: image ${join(fixed.images, 'i4.jpg')} not found`]);
  });

  it('outfitrec data import --format pog writes a dataset folder, with the notes of what was dropped', async () => {
    const { root, images } = await pogTree();
    const out = join(scratch, 'pog-dataset');
    const r = await runCli(['data', 'import', root, '--format', 'pog', '--images', images, '--out', out, '--new-users', '0']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^note: 1 outfit dropped: fewer than two categories$/m);
    const layout = JSON.parse(readFileSync(join(out, 'tuples_shop', 'layout.json'), 'utf8')) as { categories: string[]; required: boolean[] };
    assert.deepEqual([...layout.categories].sort(), ['50010850', '50011740', '50012938']);
    assert.deepEqual(layout.required, [true, true, false], 'the shoe category (50011740) is missing from o2');
    // header + four outfits of three users: u1 keeps two, u2 and u3 one each (train only with fewer than three)
    assert.equal(readFileSync(join(out, 'tuples_shop', 'tuples_train_posi'), 'utf8').trim().split('\n').length, 5);
    const missing = await runCli(['data', 'import', root, '--format', 'pog', '--out', join(scratch, 'pog-no-images')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /--images DIR/);
  });

  it('needs --images and the three files, and never downloads', async () => {
    const { root, images } = await pogTree();
    await assert.rejects(readPog(root), (e: unknown) => e instanceof UserError && /--images DIR/.test(e.message));
    await assert.rejects(readPog(root, { images: join(root, 'nope') }), (e: unknown) => e instanceof UserError && /image folder not found/.test(e.message));
    rmSync(join(root, 'user_data.txt'));
    await assert.rejects(readPog(root, { images }), (e: unknown) => e instanceof UserError && /user_data\.txt: missing/.test(e.message));
  });
});
