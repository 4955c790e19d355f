// GraphiQL on `GET /graphql`, in headless Chromium: the page loads with the API key prefilled,
// runs the default subscription over graphql-transport-ws when its run button is clicked, and
// shows a status published over HTTP from here. Every request the page makes goes to the server
// itself (the bundle is embedded; nothing comes from the internet).
//
// Env: SWITCHBOARD_BASE_URL (the server's base URL; any path is ignored), SWITCHBOARD_API_KEY
// and optionally CHROMIUM_PATH. Run by tests/browser.rs.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';

const origin = new URL(process.env.SWITCHBOARD_BASE_URL ?? 'http://127.0.0.1:4000').origin;
const graphqlUrl = `${origin}/graphql`;
const key = process.env.SWITCHBOARD_API_KEY ?? '';

/** How long any one step may take. */
const WAIT = 15_000;

let browser;

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox'],
  });
});

after(async () => {
  await browser?.close();
});

async function publish(status) {
  const response = await fetch(graphqlUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': key },
    body: JSON.stringify({
      query:
        'mutation($i: StatusInput!) { publishStatus(input: $i) { jobId userId status timestamp } }',
      variables: { i: { jobId: 'j-graphiql', userId: 'u1', status } },
    }),
  });
  const body = await response.json();
  assert.equal(response.status, 200, JSON.stringify(body));
  assert.equal(body.errors, undefined, JSON.stringify(body));
}

test('GraphiQL subscribes over graphql-transport-ws and shows a published status', { timeout: 60_000 }, async () => {
  assert.ok(key, 'SWITCHBOARD_API_KEY is set');
  const page = await browser.newPage();
  const requests = [];
  const problems = [];
  const sent = [];
  page.on('request', (request) => requests.push(request.url()));
  page.on('response', (response) => {
    if (response.status() >= 400) problems.push(`HTTP ${response.status()} for ${response.url()}`);
  });
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('websocket', (socket) => {
    requests.push(socket.url());
    socket.on('framesent', (frame) => sent.push(String(frame.payload)));
  });
  // The introspection POST carries the headers editor's key.
  const introspection = page.waitForResponse(
    (response) => response.url() === graphqlUrl && response.request().method() === 'POST',
    { timeout: WAIT },
  );
  introspection.catch(() => {}); // awaited below; a failed page.goto must not leave it unhandled

  const response = await page.goto(graphqlUrl, { timeout: WAIT });
  assert.equal(response.status(), 200);
  assert.match(response.headers()['content-type'], /^text\/html/);
  await page.locator('.graphiql-execute-button').waitFor({ timeout: WAIT });
  assert.equal((await introspection).status(), 200, 'the schema was fetched with the prefilled key');

  // The key is in the headers editor, and the default query is the status subscription.
  const tools = await page.locator('.graphiql-editor-tool').innerText();
  assert.ok(tools.includes(key), `the headers editor holds the key: ${tools}`);
  const query = await page.locator('.graphiql-query-editor').innerText();
  assert.match(query, /onStatusUpdate\(userId: "u1"\)/);

  await page.locator('.graphiql-execute-button').click();
  const subscribed = Date.now();
  while (!sent.some((frame) => frame.includes('"subscribe"'))) {
    assert.ok(Date.now() - subscribed < WAIT, `no subscribe frame was sent: ${sent.join(' | ')}`);
    await page.waitForTimeout(50);
  }
  const init = JSON.parse(sent.find((frame) => frame.includes('"connection_init"')));
  assert.equal(init.payload['x-api-key'], key, 'the key goes in connection_init');

  // graphql-transport-ws has no subscribe acknowledgement: publish until a status shows up.
  const result = page.locator('.result-window');
  let shown = '';
  for (let n = 0; n < 20 && !shown.includes('graphiql_test_'); n += 1) {
    await publish(`graphiql_test_${n}`);
    await page.waitForTimeout(250);
    shown = await result.innerText();
  }
  assert.match(shown, /"status": "graphiql_test_\d+"/, `the result pane shows the status: ${shown}`);
  assert.match(shown, /"jobId": "j-graphiql"/);

  const foreign = requests.filter((url) => !url.startsWith('data:') && new URL(url).host !== new URL(origin).host);
  assert.deepEqual(foreign, [], 'every request goes to the server itself');
  assert.ok(requests.some((url) => url.startsWith(`${origin.replace(/^http/, 'ws')}/graphql`)));
  assert.deepEqual(problems, [], 'no console errors (a CSP violation is one)');
  await page.close();
});
