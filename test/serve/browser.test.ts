import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { Recommender } from '../../src/serve/recommender.js';
import { startServer } from '../../src/serve/server.js';
import { tinyRun } from './tiny-run.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

test(
  'web page: pick a user and see outfits and their own outfits; build a new user from picked items and a recommended outfit; see their recommendations and history; delete them',
  { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (Debian package chromium): browser test skipped`, timeout: 120_000 },
  async (t) => {
    const run = await tinyRun();
    const dir = mkdtempSync(join(tmpdir(), 'outfitrec-browser-'));
    const rec = await Recommender.open(run.runDir, { data: run.root, db: join(dir, 'users.sqlite') });
    const app = await startServer(rec, { port: 0, host: '127.0.0.1' });
    const address = app.server.address();
    assert.ok(address && typeof address === 'object');
    const base = `http://127.0.0.1:${address.port}/`;
    // a fresh profile every time: no cache or state from an earlier run
    const context = await chromium.launchPersistentContext(join(dir, 'profile'), {
      executablePath: CHROMIUM,
      args: CHROMIUM_ARGS,
      headless: true,
      viewport: { width: 1280, height: 900 },
    });
    try {
      const page = context.pages()[0] ?? (await context.newPage());
      const pageErrors: string[] = [];
      page.on('pageerror', (err) => pageErrors.push(err.message));
      page.on('console', (msg) => {
        if (msg.type() === 'error') pageErrors.push(msg.text());
      });
      await page.goto(base);

      // the first user's outfits appear on load, as images with scores
      await page.locator('#outfits .outfit').first().waitFor({ timeout: 30_000 });
      assert.equal(await page.locator('#outfits .outfit').count(), 8);
      // each outfit reads as a calibrated score (a percentile, or "1 in N" in the top 1 %), with each
      // item's contribution and the matched style
      const calibrated = /beats \d+\.\d% of random outfits|top 1 in [\d,]+ random outfits|beats all 65,536 random outfits/;
      for (const text of await page.locator('#outfits .outfit .score').allTextContents()) assert.match(text, calibrated);
      assert.equal(await page.locator('#outfits .outfit').first().locator('.contribution').count(), 3);
      assert.match((await page.locator('#outfits .outfit .style').first().textContent()) ?? '', /style #\d+/);
      assert.match((await page.locator('#status').textContent()) ?? '', /set 630 · 8 users/);
      assert.match((await page.locator('#recommend-note').textContent()) ?? '', /Top 8 outfits for user 0/);
      // items carry names a person reads (colour + garment on the synthetic set), and the score has a meaning
      assert.match((await page.locator('#outfits .outfit figcaption').first().textContent()) ?? '', /^(black|grey|navy|brown|red|yellow|green|pink) \w/);
      assert.match((await page.locator('#score-help').textContent()) ?? '', /higher is better/);

      // choose another user
      await page.selectOption('#user-select', '3');
      await page.click('#show-button');
      await page.waitForFunction(() => document.querySelector('#recommend-note')?.textContent?.includes('for user 3'));
      // beside them, user 3's own (training) outfits; a run user cannot be deleted
      await page.waitForFunction(() => document.querySelector('#history-note')?.textContent?.includes("User 3's own outfits"));
      const train = rec.set.splits.train.posi;
      const own = Array.from(train.users).filter((u) => u === 3).length;
      assert.equal(await page.locator('#history .outfit-line').count(), Math.min(12, own));
      assert.equal(await page.locator('#delete-user').isVisible(), false);

      // build an outfit item by item: first top, then switch tabs for a bottom and a shoe
      await page.locator('#item-picker button').first().click();
      await page.getByRole('tab', { name: 'bottom' }).click();
      await page.locator('#item-picker button').nth(2).click();
      await page.getByRole('tab', { name: 'shoe' }).click();
      await page.locator('#item-picker button').nth(1).click();
      assert.equal(await page.locator('#add-outfit').isEnabled(), true);
      await page.click('#add-outfit');
      // and take one of user 3's recommended outfits
      await page.locator('#outfits .outfit button').first().click();
      assert.match((await page.locator('#chosen-count').textContent()) ?? '', /\(2\)/);

      await page.click('#create-user');
      const newId = rec.runUsers;
      await page.waitForFunction((id) => document.querySelector('#recommend-note')?.textContent?.includes(`for user ${id}`), newId, { timeout: 30_000 });
      assert.match((await page.locator('#new-user-note').textContent()) ?? '', new RegExp(`Created user #${newId} from 2 outfits`));
      assert.equal(await page.locator('#outfits .outfit').count(), 8);
      assert.equal(await page.inputValue('#user-select'), String(newId));
      assert.equal((await rec.onboardedUsers()).length, 1);
      await page.waitForFunction(() => document.querySelector('#status')?.textContent?.includes('+ 1 new'));
      assert.equal((await rec.onboardedUsers())[0].outfits, 2);
      // the new user's own outfits are the two it was made from, and it can be deleted
      await page.waitForFunction((id) => document.querySelector('#history-note')?.textContent?.includes(`#${id} was created from 2 outfits`), newId);
      assert.equal(await page.locator('#history .outfit-line').count(), 2);
      assert.equal(await page.locator('#delete-user').isVisible(), true);

      // every picture on the page loaded
      await page.waitForFunction(() => [...document.images].every((img) => img.complete && img.naturalWidth > 0), undefined, { timeout: 15_000 });
      const shot = join(tmpdir(), `outfitrec-serve-screenshot-${process.pid}.png`);
      await page.screenshot({ path: shot, fullPage: true });
      t.diagnostic(`screenshot: ${shot}`);

      page.once('dialog', (dialog) => void dialog.accept());
      await page.click('#delete-user');
      await page.waitForFunction((id) => document.querySelector('#new-user-note')?.textContent?.includes(`Deleted user #${id}`), newId);
      await page.waitForFunction(() => document.querySelector('#status')?.textContent?.includes('+ 0 new'));
      assert.equal(await page.locator(`#user-select option[value="${newId}"]`).count(), 0);
      assert.equal(await rec.findUser(newId), undefined);
      assert.deepEqual(await rec.onboardedUsers(), []);
      await page.waitForFunction(() => document.querySelector('#history-note')?.textContent?.includes("User 0's own outfits"));
      assert.deepEqual(pageErrors, []);
    } finally {
      await context.close();
      await app.close();
      await rec.model.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
