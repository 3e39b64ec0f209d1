/**
 * Reliability, images (issue 16 item 7; docs/reliability.md "What is validated"): `data check`
 * decodes every image and names each one that cannot be decoded, instead of "images ok" for
 * files training then fails on.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixtureCopy, runCli } from './helpers.js';

describe('reliability: data check decodes every image', () => {
  it('reports a truncated JPEG, random bytes, a 0-byte file and a directory named like the image, each with its path', async () => {
    const root = fixtureCopy('images');
    const dir = join(root, 'images', '16x16');
    const jpeg = readFileSync(join(dir, 'top_a.jpg'));
    writeFileSync(join(dir, 'top_a.jpg'), jpeg.subarray(0, Math.floor(jpeg.length * 0.7)));
    writeFileSync(join(dir, 'top_b.jpg'), Buffer.from(Array.from({ length: 400 }, (_, i) => (i * 97 + 13) % 256)));
    writeFileSync(join(dir, 'bot_a.jpg'), Buffer.alloc(0));
    rmSync(join(dir, 'shoe_a.jpg'));
    mkdirSync(join(dir, 'shoe_a.jpg'));

    const r = await runCli(['data', 'check', root, '--quiet']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /4 problems found/);
    assert.match(r.stderr, new RegExp(`${join(dir, 'top_a.jpg')}: cannot decode image: .*(premature end|corrupt)`));
    assert.match(r.stderr, new RegExp(`${join(dir, 'top_b.jpg')}: cannot decode image: `));
    assert.match(r.stderr, new RegExp(`${join(dir, 'bot_a.jpg')}: empty file \\(0 bytes\\)`));
    assert.match(r.stderr, new RegExp(`${join(dir, 'shoe_a.jpg')}: is a directory, not an image file`));
    assert.doesNotMatch(r.stderr, /internal error/);
    // the 630 set says its images are bad instead of "images ok"; 519 (PNGs, untouched) is ok
    assert.match(r.stdout, /tuples_630: ok: .* 4 images cannot be decoded/);
    assert.match(r.stdout, /tuples_519: ok: .* images ok: 7 decoded/);
  });

  it('an intact dataset passes with every image decoded', async () => {
    const root = fixtureCopy('images-ok');
    const r = await runCli(['data', 'check', root, '--quiet', '--jobs', '2']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /tuples_630: ok: .* images ok: 10 decoded/);
  });
});
