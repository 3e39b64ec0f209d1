/**
 * The shop-format reader on well-formed files (docs/method.md §6.4): RFC 4180 quoting (commas and
 * newlines inside fields), free attribute columns, outfits.jsonl with numeric ids and ISO-8601
 * timestamps, and the line numbers records keep for later messages.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseShopFolder, parseTimestamp } from '../../../src/data/import/shop.js';
import { scratchDir } from '../../reliability/helpers.js';

describe('shop format reader', () => {
  it('reads quoted CSV fields, attributes and jsonl outfits with their lines', () => {
    const dir = join(scratchDir('shop-read'), 'shop');
    mkdirSync(dir);
    writeFileSync(
      join(dir, 'items.csv'),
      '\uFEFFid,category,image,title,brand\n' + '1,top,a.png,"shirt, red",acme\n' + '2,bottom,/abs/b.png,"two\nlines",\n' + '\n' + '3,Out Wear,c.png,,"say ""hi"""\n',
    );
    writeFileSync(
      join(dir, 'outfits.jsonl'),
      '{"user": 7, "items": [1, "2"], "timestamp": "2024-05-01T10:00:00Z"}\n\n{"user": "u", "items": ["3", 1], "timestamp": 1700000000000}\n{"user": "u", "items": ["2", "3"]}\n',
    );
    const r = parseShopFolder(dir);
    assert.deepEqual(
      r.items.map((it) => [it.id, it.category, it.image, it.title, it.attributes, it.source.line]),
      [
        ['1', 'top', join(dir, 'a.png'), 'shirt, red', { brand: 'acme' }, 2],
        ['2', 'bottom', '/abs/b.png', 'two\nlines', undefined, 3],
        ['3', 'Out Wear', join(dir, 'c.png'), undefined, { brand: 'say "hi"' }, 6],
      ],
    );
    assert.deepEqual(
      r.outfits.map((o) => [o.user, o.items, o.timestamp, o.source.line]),
      [
        ['7', ['1', '2'], Date.UTC(2024, 4, 1, 10), 1],
        ['u', ['3', '1'], 1700000000000, 3],
        ['u', ['2', '3'], undefined, 4],
      ],
    );
  });

  it('timestamps: milliseconds or ISO-8601, nothing else', () => {
    assert.equal(parseTimestamp('1700000000000'), 1700000000000);
    assert.equal(parseTimestamp('2024-05-01'), Date.UTC(2024, 4, 1));
    assert.equal(parseTimestamp('2024-05-01T12:30:00+02:00'), Date.UTC(2024, 4, 1, 10, 30));
    assert.equal(parseTimestamp('May 1st'), undefined);
    assert.equal(parseTimestamp('2024-13-45'), undefined);
    assert.equal(parseTimestamp(Number.NaN), undefined);
  });
});
