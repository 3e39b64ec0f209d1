import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import sharp from 'sharp';
import { imageCachePaths, loadImageCache } from '../../src/data/images.js';
import { loadPolyvoreSet } from '../../src/data/polyvore.js';
import { DataError, DataErrors } from '../../src/errors.js';

const FIXTURE = new URL('../fixtures/fhn-mini', import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), 'outfitrec-images-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

let copies = 0;
function copyFixture(): string {
  const root = join(scratch, `copy${copies++}`);
  cpSync(FIXTURE, root, { recursive: true });
  return root;
}

/** RGB of pixel (x, y) of item `id` in a size×size cache. */
function pixel(pixels: Uint8Array, size: number, id: number, x: number, y: number): number[] {
  const at = (id * size * size + y * size + x) * 3;
  return Array.from(pixels.subarray(at, at + 3));
}

async function writeSolidPng(path: string, width: number, height: number, rgb: [number, number, number]): Promise<void> {
  const px = Buffer.alloc(width * height * 3);
  for (let i = 0; i < width * height; i++) px.set(rgb, i * 3);
  await sharp(px, { raw: { width, height, channels: 3 } }).png().toFile(path);
}

function problemsOf(err: unknown): DataError[] {
  if (err instanceof DataErrors) return err.errors;
  if (err instanceof DataError) return [err];
  throw err;
}

describe('loadImageCache', () => {
  it('decodes PNGs exactly (RGB, alpha flattened on white, grey expanded), then serves the packed file without the images', async () => {
    const root = copyFixture();
    const set = loadPolyvoreSet(root, '519');
    const cache = await loadImageCache(set, 16);
    assert.deepEqual([cache.n, cache.height, cache.width, cache.channels], [7, 16, 16, 3]);
    assert.equal(cache.pixels.length, 7 * 16 * 16 * 3);
    // vtop_a (id 0): left half red, right half blue
    assert.deepEqual(pixel(cache.pixels, 16, 0, 0, 0), [255, 0, 0]);
    assert.deepEqual(pixel(cache.pixels, 16, 0, 7, 15), [255, 0, 0]);
    assert.deepEqual(pixel(cache.pixels, 16, 0, 8, 0), [0, 0, 255]);
    // vbot_a (id 3): opaque green on top, transparent below -> white
    assert.deepEqual(pixel(cache.pixels, 16, 3, 5, 2), [0, 255, 0]);
    assert.deepEqual(pixel(cache.pixels, 16, 3, 5, 12), [255, 255, 255]);
    // vshoe_a (id 5): 8-bit grey 100
    assert.deepEqual(pixel(cache.pixels, 16, 5, 9, 9), [100, 100, 100]);
    // vtop_c (id 2): solid (250,180,0)
    assert.deepEqual(pixel(cache.pixels, 16, 2, 3, 3), [250, 180, 0]);

    const files = imageCachePaths(set, 16);
    assert.equal(files.bin, join(root, '.cache/images_519_16.bin'));
    const header = JSON.parse(readFileSync(files.header, 'utf8'));
    assert.equal(header.count, 7);
    assert.equal(header.size, 16);
    assert.equal(header.imageDir, '16x16');
    assert.match(header.fingerprint, /^[0-9a-f]{64}$/);

    // No image left to decode: the second load can only come from the packed file.
    rmSync(join(root, 'images'), { recursive: true });
    const again = await loadImageCache(set, 16);
    assert.deepEqual(again.pixels, cache.pixels);
  });

  it('resizes the 630 JPEGs and rebuilds the cache when the image list changes', async () => {
    const root = copyFixture();
    let set = loadPolyvoreSet(root, '630');
    const small = await loadImageCache(set, 8);
    assert.equal(small.pixels.length, 10 * 8 * 8 * 3);
    const close = (got: number[], want: number[]): void =>
      assert.ok(
        got.every((v, k) => Math.abs(v - want[k]) <= 4),
        `${got} vs ${want}`,
      );
    close(pixel(small.pixels, 8, 0, 4, 4), [200, 30, 30]); // top_a
    close(pixel(small.pixels, 8, 1, 4, 4), [30, 200, 30]); // top_b
    close(pixel(small.pixels, 8, 9, 4, 4), [150, 40, 150]); // shoe_c

    // Swap the first two tops: same items, new order -> new fingerprint -> pixels follow the list.
    const list = join(root, 'tuples_630/image_list_top');
    writeFileSync(list, 'top_b.jpg\ntop_a.jpg\ntop_c.jpg\ntop_d.jpg\n');
    set = loadPolyvoreSet(root, '630');
    const swapped = await loadImageCache(set, 8);
    assert.deepEqual(pixel(swapped.pixels, 8, 0, 4, 4), pixel(small.pixels, 8, 1, 4, 4));
    assert.deepEqual(pixel(swapped.pixels, 8, 1, 4, 4), pixel(small.pixels, 8, 0, 4, 4));
  });

  it("pads non-square images with white ('contain')", async () => {
    const root = copyFixture();
    rmSync(join(root, 'images/16x16'), { recursive: true });
    mkdirSync(join(root, 'images/8x4'));
    const set = loadPolyvoreSet(root, '519');
    for (const name of set.catalog.names) await writeSolidPng(join(root, 'images/8x4', `${name}.png`), 8, 4, [200, 0, 0]);
    const cache = await loadImageCache(set, 8);
    // an 8x4 image in an 8x8 square: 2 white rows above, 4 red rows, 2 white rows below
    assert.deepEqual(pixel(cache.pixels, 8, 4, 3, 0), [255, 255, 255]);
    assert.deepEqual(pixel(cache.pixels, 8, 4, 3, 3), [200, 0, 0]);
    assert.deepEqual(pixel(cache.pixels, 8, 4, 3, 4), [200, 0, 0]);
    assert.deepEqual(pixel(cache.pixels, 8, 4, 3, 7), [255, 255, 255]);
  });

  it('names a wrong-size and an undecodable image, and caches nothing', async () => {
    const root = copyFixture();
    const set = loadPolyvoreSet(root, '630');
    await writeSolidPng(join(root, 'images/16x16/top_c.jpg'), 20, 16, [1, 2, 3]); // PNG bytes under a .jpg name decode fine
    writeFileSync(join(root, 'images/16x16/shoe_b.jpg'), 'not an image');
    const problems = await loadImageCache(set, 8).then(
      () => assert.fail('expected bad images to be reported'),
      problemsOf,
    );
    assert.equal(problems.length, 2);
    const wrongSize = problems.find((e) => e.file.endsWith('images/16x16/top_c.jpg'));
    assert.match(wrongSize?.message ?? '', /top_c\.jpg: image is 20x16, expected 16x16/);
    const garbage = problems.find((e) => e.file.endsWith('images/16x16/shoe_b.jpg'));
    assert.match(garbage?.message ?? '', /shoe_b\.jpg: cannot decode image/);
    const files = imageCachePaths(set, 8);
    assert.equal(existsSync(files.bin), false);
    assert.equal(existsSync(files.header), false);
  });

  it('names the image list line of a missing image', async () => {
    const root = copyFixture();
    const set = loadPolyvoreSet(root, '630');
    rmSync(join(root, 'images/16x16/bot_c.jpg'));
    const problems = await loadImageCache(set, 8).then(() => assert.fail('expected a missing image'), problemsOf);
    assert.equal(problems.length, 1);
    assert.match(problems[0].message, /tuples_630\/image_list_bottom:3: image "bot_c\.jpg" not found/);
  });
});
