// `ilias-chat --demo` in a real browser: Debian's headless Chromium (driven by
// playwright-core, no browser download) opens the demo page in two tabs with separate
// browser contexts, enters as ann and bob, chats, and sees the server shut down; a third
// tab at phone width must not scroll sideways, and a reload shows the room's last messages.
// No request may fail (a favicon neither).
//
// Environment:
//   ILIAS_CHAT_CHROMIUM     Chromium binary (default /usr/bin/chromium; .ci/run installs
//                           Debian's `chromium` when it is missing)
//   ILIAS_CHAT_SCREENSHOT   also write a screenshot of ann's tab (PNG) to this path

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe } from 'node:test';

import { chromium } from 'playwright-core';

import { startDemo, test } from './harness.mjs';

const CHROMIUM = process.env.ILIAS_CHAT_CHROMIUM || '/usr/bin/chromium';
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
const TIMEOUT_MS = 15000;
/** The room's title as the page's header names it ("chat room “Demo room”"). */
const ROOM_TITLE = 'Demo room';

async function launchChromium() {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM}: the browser tests need Debian's chromium ` +
        `(apt-get install -y chromium; .ci/run installs it when missing) or ` +
        `ILIAS_CHAT_CHROMIUM=/path/to/chromium`,
    );
  }
  try {
    return await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      timeout: 60000,
    });
  } catch (e) {
    throw new Error(`cannot launch ${CHROMIUM} with playwright-core: ${e.message}`, { cause: e });
  }
}

/** Texts of the elements matching `selector`. */
const texts = (page, selector) => page.locator(selector).allTextContents();

/** Waits until the texts of `selector` equal `expected` (sorted), else fails with what is there. */
async function waitTexts(page, selector, expected, { sort = false, what } = {}) {
  const want = sort ? [...expected].sort() : expected;
  const deadline = Date.now() + TIMEOUT_MS;
  let got;
  for (;;) {
    got = await texts(page, selector);
    if (sort) got.sort();
    if (JSON.stringify(got) === JSON.stringify(want)) return;
    if (Date.now() > deadline) break;
    await page.waitForTimeout(100);
  }
  assert.deepEqual(got, want, what ?? `${selector} in ${page.url()}`);
}

/** How far the page is wider than the window (0: no sideways scrolling). */
const overflowX = (page) =>
  page.evaluate(() => Math.max(0, document.documentElement.scrollWidth - window.innerWidth));

/**
 * Opens the page in a fresh context and enters the room as `name`. Every failed request
 * counts, /favicon.ico too (Chromium asks for it unless the page names an icon).
 * `onLogin(page)` runs on the login screen.
 */
async function openTab(browser, baseUrl, name, { viewport = { width: 1000, height: 700 }, onLogin } = {}) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT_MS);
  const tab = { name, context, page, pageErrors: [], consoleErrors: [], failedRequests: [] };
  page.on('pageerror', (e) => tab.pageErrors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') tab.consoleErrors.push(`${m.text()} (${m.location().url})`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400) tab.failedRequests.push(`${r.status()} ${r.url()}`);
  });
  page.on('requestfailed', (r) => tab.failedRequests.push(`${r.failure()?.errorText} ${r.url()}`));
  const response = await page.goto(`${baseUrl}/demo/`, { waitUntil: 'load' });
  assert.equal(response.status(), 200, `GET /demo/ for ${name}`);
  assert.equal(await page.evaluate(() => typeof window.io), 'function', 'socket.io.js defines io()');
  await page.locator('#login').waitFor({ state: 'visible' });
  assert.equal(await page.locator('#chat').isVisible(), false, 'the chat is hidden before entering');
  assert.equal(await page.locator('#dm').isVisible(), false, 'the direct messages are hidden before entering');
  if (onLogin) await onLogin(page);
  await page.fill('#name', name);
  await page.click('#login-form button');
  await page.locator('#chat').waitFor({ state: 'visible' });
  await page.locator('#login').waitFor({ state: 'hidden' });
  return tab;
}

describe('ilias-chat --demo in headless Chromium', () => {
  const ctx = { tabs: [] };
  before(async () => {
    ctx.browser = await launchChromium();
    ctx.demo = await startDemo();
  });
  after(async () => {
    for (const tab of ctx.tabs) await tab.context.close().catch(() => {});
    await ctx.browser?.close().catch(() => {});
    await ctx.demo?.stop();
  });

  test('two tabs chat; the other tab shows the message, both list both users', { timeout: 60000 }, async (t) => {
    const { browser, demo } = ctx;
    const ann = await openTab(browser, demo.baseUrl, 'ann');
    ctx.tabs.push(ann);
    await waitTexts(ann.page, '#users li', ['ann'], { what: "ann's user list before bob" });
    // The title is checked last (see ROOM_TITLE) so that the rest of the flow still runs.
    const welcomeAnn = await ann.page.locator('#messages p').first().textContent();
    const title = /^Welcome to (.+), ann!$/.exec(welcomeAnn)?.[1];
    assert.ok(title, `ann's first line is a welcome: ${JSON.stringify(welcomeAnn)}`);
    await waitTexts(ann.page, '#messages p', [`Welcome to ${title}, ann!`], { what: "ann's messages" });

    const bob = await openTab(browser, demo.baseUrl, 'bob');
    ctx.tabs.push(bob);
    for (const tab of [ann, bob]) {
      await waitTexts(tab.page, '#users li', ['ann', 'bob'], { sort: true, what: `${tab.name}'s user list` });
    }
    await waitTexts(
      ann.page,
      '#messages p',
      [`Welcome to ${title}, ann!`, 'bob entered the room.'],
      { what: "ann's messages after bob entered" },
    );
    await waitTexts(bob.page, '#messages p', [`Welcome to ${title}, bob!`], { what: "bob's messages" });
    for (const tab of [ann, bob]) {
      assert.deepEqual(await texts(tab.page, '#messages p.notice'), await texts(tab.page, '#messages p'), 'notices are styled as such');
    }

    // Markup typed by ann is text for bob (the server escapes it; the page inserts HTML).
    const said = 'hello <b>bob</b> & <img src=x onerror=alert(1)>';
    ctx.said = said;
    await ann.page.fill('#text', said);
    await ann.page.press('#text', 'Enter');
    await waitTexts(
      bob.page,
      '#messages p',
      [`Welcome to ${title}, bob!`, `ann: ${said}`],
      { what: "bob's messages after ann spoke" },
    );
    await waitTexts(
      ann.page,
      '#messages p',
      [`Welcome to ${title}, ann!`, 'bob entered the room.', `ann: ${said}`],
      { what: "ann's messages after she spoke" },
    );
    assert.equal(await ann.page.inputValue('#text'), '', "ann's input is cleared after sending");
    for (const tab of [ann, bob]) {
      const last = tab.page.locator('#messages p').last();
      assert.equal(await last.locator('span.from').textContent(), 'ann:');
      assert.equal(await tab.page.locator('#messages b, #messages img').count(), 0, `no markup injected for ${tab.name}`);
    }
    // An empty message is not sent.
    await bob.page.press('#text', 'Enter');

    // One reply the other way round.
    await bob.page.fill('#text', 'hi ann');
    await bob.page.click('#send-form button');
    await waitTexts(
      ann.page,
      '#messages p',
      [`Welcome to ${title}, ann!`, 'bob entered the room.', `ann: ${said}`, 'bob: hi ann'],
      { what: "ann's messages after bob replied" },
    );
    await waitTexts(
      bob.page,
      '#messages p',
      [`Welcome to ${title}, bob!`, `ann: ${said}`, 'bob: hi ann'],
      { what: "bob's messages after he replied" },
    );

    const shot = process.env.ILIAS_CHAT_SCREENSHOT || path.join(demo.dir, 'ann.png');
    const png = await ann.page.screenshot({ path: shot, fullPage: true });
    assert.ok(png.length > 1000 && png.subarray(1, 4).toString() === 'PNG', 'a PNG screenshot');
    t.diagnostic(`screenshot of ann's tab: ${shot}`);

    for (const tab of [ann, bob]) {
      assert.deepEqual(tab.pageErrors, [], `JavaScript errors in ${tab.name}'s tab`);
      assert.deepEqual(tab.consoleErrors, [], `console errors in ${tab.name}'s tab`);
      assert.deepEqual(tab.failedRequests, [], `failed requests in ${tab.name}'s tab`);
    }
    assert.equal(title, ROOM_TITLE, 'the welcome notice names the room the page header names');
  });

  test("a reload shows the room's last messages, as text", { timeout: 60000 }, async () => {
    assert.ok(ctx.said, 'runs after the chat test');
    const [ann] = ctx.tabs;
    const spoken = [`ann: ${ctx.said}`, 'bob: hi ann'];
    // Rows reach the database through the write-behind queue: wait until both are
    // stored (what the page gets from the enter route) before reloading.
    const deadline = Date.now() + TIMEOUT_MS;
    for (;;) {
      const answer = await fetch(`${ctx.demo.baseUrl}/demo/enter?name=ann`).then((r) => r.json());
      if ((answer.history ?? []).length >= 2) break;
      assert.ok(Date.now() < deadline, `the enter route still lists ${JSON.stringify(answer.history)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await ann.page.reload({ waitUntil: 'load' });
    await ann.page.fill('#name', 'ann');
    await ann.page.click('#login-form button');
    await ann.page.locator('#chat').waitFor({ state: 'visible' });
    // Within the grace period ann never left the room, so there is no second welcome
    // (the original greets only a user who was not in the room yet).
    await waitTexts(ann.page, '#users li', ['ann', 'bob'], { sort: true, what: "ann's user list after the reload" });
    await waitTexts(ann.page, '#messages p', spoken, { what: "ann's messages after the reload" });
    assert.deepEqual(await texts(ann.page, '#messages p.past'), spoken, 'past messages are marked as such');
    assert.equal(await ann.page.locator('#messages b, #messages img').count(), 0, 'no markup injected from history');
    assert.deepEqual(ann.pageErrors, [], "JavaScript errors in ann's tab");
    assert.deepEqual(ann.failedRequests, [], "failed requests in ann's tab");
  });

  test('at phone width (360 px) nothing scrolls sideways, not even a long word', { timeout: 60000 }, async () => {
    assert.ok(ctx.tabs.length > 0, 'runs after the chat test');
    const viewport = { width: 360, height: 740 };
    const cyd = await openTab(ctx.browser, ctx.demo.baseUrl, 'cyd', {
      viewport,
      onLogin: async (page) => assert.equal(await overflowX(page), 0, 'px too wide: the login screen'),
    });
    ctx.tabs.push(cyd);
    await waitTexts(cyd.page, '#users li', ['ann', 'bob', 'cyd'], { sort: true, what: "cyd's user list" });
    assert.equal(await cyd.page.locator('#dm').isVisible(), true, 'the direct messages show after entering');
    assert.equal(await overflowX(cyd.page), 0, 'px too wide: the chat');
    const long = `https://ilias.example.org/${'x'.repeat(150)}`;
    await cyd.page.fill('#text', long);
    await cyd.page.press('#text', 'Enter');
    await cyd.page.locator('#messages p', { hasText: long }).waitFor({ state: 'attached' });
    assert.equal(await overflowX(cyd.page), 0, 'px too wide: the chat with a long word');
    assert.deepEqual(cyd.pageErrors, [], "JavaScript errors in cyd's tab");
    assert.deepEqual(cyd.failedRequests, [], "failed requests in cyd's tab");
  });

  test('SIGTERM: every tab says the server is shutting down; exit 0', { timeout: 60000 }, async () => {
    assert.ok(ctx.tabs.length > 0, 'needs the tabs of the chat test');
    const { demo } = ctx;
    demo.signal('SIGTERM');
    for (const tab of ctx.tabs) {
      await tab.page
        .locator('#messages p.notice', { hasText: 'The chat server is shutting down.' })
        .waitFor({ state: 'attached' });
      assert.deepEqual(tab.pageErrors, [], `JavaScript errors in ${tab.name}'s tab`);
    }
    const status = await demo.waitExit(10000);
    assert.deepEqual(status, { code: 0, signal: null }, 'exit status within 10 s of SIGTERM');
  });
});
