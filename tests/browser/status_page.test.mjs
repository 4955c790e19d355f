// The status page (`GET /`) end to end in headless Chromium, driven by playwright-core; run by
// tests/browser.rs, which starts the server and passes:
//   SWITCHBOARD_BASE_URL   http://127.0.0.1:PORT
//   SWITCHBOARD_API_KEY    the server's API key
//   SWITCHBOARD_ARTIFACTS  a directory for the screenshot
//   CHROMIUM_PATH          optional; /usr/bin/chromium (Debian's package) by default
//
// The page is unmodified and has no test hooks. The outage is made with Playwright's WebSocket
// routing: every socket the page opens to /graphql is proxied to the real server, and while the
// test says the network is down it closes the open ones and refuses new ones, so the page's
// reconnection attempts fail until the network is back, as they would in a real outage.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const BASE = process.env.SWITCHBOARD_BASE_URL;
const KEY = process.env.SWITCHBOARD_API_KEY;
const ARTIFACTS = process.env.SWITCHBOARD_ARTIFACTS;
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const WAIT = 10_000;

const PUBLISH =
  'mutation P($i: StatusInput!) { publishStatus(input: $i) { jobId userId status timestamp } }';

async function publish(input) {
  const response = await fetch(`${BASE}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': KEY },
    body: JSON.stringify({ query: PUBLISH, variables: { i: input } }),
  });
  const body = await response.json();
  assert.equal(response.status, 200, JSON.stringify(body));
  assert.equal(body.errors, undefined, JSON.stringify(body));
  return body.data.publishStatus;
}

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The statuses shown in a job's timeline, in order. */
function timeline(page, jobId) {
  return page.$$eval(`article.job[data-job-id="${jobId}"] tr.step`, (rows) =>
    rows.map((row) => row.dataset.status));
}

async function waitForTimeline(page, jobId, expected) {
  try {
    await page.waitForFunction(
      ([jobId, expected]) => {
        const rows = document.querySelectorAll(`article.job[data-job-id="${jobId}"] tr.step`);
        return JSON.stringify([...rows].map((r) => r.dataset.status)) === JSON.stringify(expected);
      },
      [jobId, expected],
      { timeout: WAIT },
    );
  } catch (error) {
    const shown = await timeline(page, jobId);
    assert.fail(`job ${jobId}: expected ${JSON.stringify(expected)}, shown ${JSON.stringify(shown)} (${error.message})`);
  }
}

function waitForConnection(page, state) {
  return page.waitForSelector(`#connection[data-state="${state}"]`, { timeout: WAIT });
}

test('the status page shows a user\'s jobs live and resumes after a reconnection', async (t) => {
  assert.ok(BASE && KEY && ARTIFACTS, 'SWITCHBOARD_BASE_URL, SWITCHBOARD_API_KEY and SWITCHBOARD_ARTIFACTS are set');
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  t.after(() => browser.close());
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  // The page reads everything from the subscription's stream (replay, then resume): it never
  // queries statusHistory.
  const historyQueries = [];
  page.on('request', (request) => {
    if (request.method() === 'POST' && (request.postData() || '').includes('statusHistory')) {
      historyQueries.push(request.postData());
    }
  });
  // What the page asks for when it subscribes.
  const subscribes = [];

  // The network between the page and the server's WebSocket endpoint.
  let down = false;
  let opened = 0;
  let refused = 0;
  const links = new Set();
  await page.routeWebSocket(/\/graphql$/, (ws) => {
    if (down) {
      refused += 1;
      ws.close({ code: 4000, reason: 'network down (test)' });
      return;
    }
    opened += 1;
    const server = ws.connectToServer();
    ws.onMessage((message) => {
      const parsed = JSON.parse(message);
      if (parsed.type === 'subscribe') subscribes.push(parsed.payload.extensions);
      server.send(message);
    });
    const link = { ws, server };
    links.add(link);
    ws.onClose(() => { links.delete(link); server.close(); });
    server.onClose(() => { links.delete(link); ws.close(); });
  });

  // Before the page opens: a finished job (shown from the history) and another user's job (never shown).
  await publish({ jobId: 'j0', userId: 'u1', agentName: 'orchestrator', status: 'loading_agents' });
  await publish({ jobId: 'j0', userId: 'u1', agentName: 'orchestrator', status: 'complete', message: 'done' });
  await publish({ jobId: 'other', userId: 'u2', status: 'loading_agents' });

  await page.goto(`${BASE}/?userId=u1&apiKey=${encodeURIComponent(KEY)}`);
  assert.equal(await page.inputValue('#userId'), 'u1');
  assert.equal(await page.inputValue('#credential'), KEY);
  await waitForConnection(page, 'live');
  await waitForTimeline(page, 'j0', ['loading_agents', 'complete']);
  assert.equal(await page.locator('article.job[data-job-id="other"]').count(), 0);

  // Live: the first two statuses of j1 appear in order.
  await publish({ jobId: 'j1', userId: 'u1', agentName: 'orchestrator', status: 'loading_agents', message: 'loading the playbook' });
  await waitForTimeline(page, 'j1', ['loading_agents']);
  await pause(120);
  await publish({ jobId: 'j1', userId: 'u1', agentName: 'geo_agent', status: 'invoking_geo_agent' });
  await waitForTimeline(page, 'j1', ['loading_agents', 'invoking_geo_agent']);
  assert.equal(await page.textContent('article.job[data-job-id="j1"] .badge'), 'invoking_geo_agent');
  // Newest job first.
  assert.deepEqual(
    await page.$$eval('article.job', (cards) => cards.map((c) => c.dataset.jobId)),
    ['j1', 'j0'],
  );

  // The network goes down: the open socket is cut and reconnection attempts are refused.
  down = true;
  for (const { ws, server } of [...links]) {
    ws.close({ code: 4000, reason: 'network down (test)' });
    server.close();
  }
  await waitForConnection(page, 'reconnecting');
  await publish({ jobId: 'j1', userId: 'u1', agentName: 'geo_agent', status: 'calling_amazon_location', message: 'geocoding 3 addresses' });
  await pause(150);
  await publish({ jobId: 'j1', userId: 'u1', agentName: 'orchestrator', status: 'complete', message: 'answer ready' });
  // Long enough for at least one refused attempt (the first retry comes after ~0.5 s).
  const deadline = Date.now() + WAIT;
  while (refused === 0 && Date.now() < deadline) await pause(50);
  assert.ok(refused > 0, 'the page tried to reconnect while the network was down');
  assert.deepEqual(await timeline(page, 'j1'), ['loading_agents', 'invoking_geo_agent'],
    'nothing arrives while the network is down');

  // Back up: the page reconnects by itself and resumes where it was, each status exactly once.
  down = false;
  await waitForConnection(page, 'live');
  await waitForTimeline(page, 'j1', ['loading_agents', 'invoking_geo_agent', 'calling_amazon_location', 'complete']);
  await pause(300);
  assert.deepEqual(await timeline(page, 'j1'),
    ['loading_agents', 'invoking_geo_agent', 'calling_amazon_location', 'complete']);
  assert.deepEqual(await timeline(page, 'j0'), ['loading_agents', 'complete']);
  assert.ok(opened >= 2, `the page opened a new socket (${opened} opened, ${refused} refused)`);
  assert.deepEqual(subscribes[0], { replay: { last: 100 } }, 'the first subscription replays what is kept');
  assert.equal(subscribes.length, 2, JSON.stringify(subscribes));
  assert.equal(subscribes[1].resume.offset, 4, `resumed after u1's 4th status: ${JSON.stringify(subscribes)}`);
  assert.equal(typeof subscribes[1].resume.epoch, 'string');
  assert.deepEqual(historyQueries, [], 'no statusHistory query, before or after the reconnection');
  const j1 = page.locator('article.job[data-job-id="j1"]');
  assert.equal(await j1.locator('.badge').textContent(), 'complete');
  assert.match(await j1.locator('.badge').getAttribute('class'), /\bcomplete\b/);
  assert.equal(await j1.locator('tr.step.complete').count(), 1);
  // Each row: local time, the duration since the previous step, agent and message.
  const rows = await j1.locator('tr.step').evaluateAll((trs) => trs.map((tr) => ({
    time: tr.querySelector('.time').textContent,
    since: tr.querySelector('.duration').textContent,
    agent: tr.querySelector('.agent').textContent,
    message: tr.querySelector('.message').textContent,
  })));
  for (const row of rows) assert.match(row.time, /^\d\d:\d\d:\d\d\.\d{3}$/);
  assert.equal(rows[0].since, '—');
  for (const row of rows.slice(1)) assert.match(row.since, /^\+\d/);
  assert.equal(rows[1].agent, 'geo_agent');
  assert.equal(rows[2].message, 'geocoding 3 addresses');

  // A job that fails shows the error badge and its message, and comes first as the newest.
  await publish({ jobId: 'j2', userId: 'u1', agentName: 'orchestrator', status: 'loading_agents' });
  await pause(80);
  await publish({ jobId: 'j2', userId: 'u1', agentName: 'geo_agent', status: 'error', message: 'Amazon Location timed out' });
  await waitForTimeline(page, 'j2', ['loading_agents', 'error']);
  const j2 = page.locator('article.job[data-job-id="j2"]');
  assert.equal(await j2.locator('.badge').textContent(), 'error');
  assert.match(await j2.locator('.badge').getAttribute('class'), /\berror\b/);
  assert.equal(await j2.locator('tr.step.error .message').textContent(), 'Amazon Location timed out');
  assert.deepEqual(
    await page.$$eval('article.job', (cards) => cards.map((c) => c.dataset.jobId)),
    ['j2', 'j1', 'j0'],
  );

  // The time bar: a segment per step that has a next one, as wide as its share of the job.
  const segments = await j1.locator('.timebar .segment').evaluateAll((spans) =>
    spans.map((span) => parseFloat(span.style.width)));
  assert.equal(segments.length, rows.length - 1);
  assert.ok(Math.abs(segments.reduce((a, b) => a + b, 0) - 100) < 0.5, `${segments}`);

  assert.deepEqual(pageErrors, [], 'no uncaught errors in the page');
  mkdirSync(ARTIFACTS, { recursive: true });
  const shots = [];
  // Desktop and phone widths: nothing overflows the viewport, nothing needs sideways scrolling.
  for (const [name, width, height] of [['status-page.png', 1280, 800], ['status-page-phone.png', 390, 844]]) {
    await page.setViewportSize({ width, height });
    const overflow = await page.evaluate(() => {
      const limit = window.innerWidth + 0.5;
      const wide = [...document.querySelectorAll('body *')]
        .filter((el) => el.getClientRects().length && el.getBoundingClientRect().right > limit)
        .map((el) => `${el.tagName.toLowerCase()}.${el.className}`);
      const scrolled = [...document.querySelectorAll('article.job')]
        .filter((el) => el.scrollWidth > el.clientWidth + 1)
        .map((el) => el.dataset.jobId);
      return { page: document.documentElement.scrollWidth, wide, scrolled };
    });
    assert.ok(overflow.page <= width, `${width}px: the page is ${overflow.page}px wide`);
    assert.deepEqual(overflow.wide, [], `${width}px: elements past the right edge`);
    assert.deepEqual(overflow.scrolled, [], `${width}px: cards that scroll sideways`);
    const shot = path.join(ARTIFACTS, name);
    await page.screenshot({ path: shot, fullPage: true });
    shots.push(shot);
  }
  // On a phone each step is a block: status, time, agent, duration and message all visible.
  const step = j1.locator('tr.step').nth(2);
  for (const cell of ['.status', '.time', '.duration', '.agent', '.message']) {
    assert.ok(await step.locator(cell).isVisible(), `${cell} is visible at 390px`);
  }
  t.diagnostic(`sockets: ${opened} opened, ${refused} refused while down; screenshots: ${shots.join(', ')}`);
});
