// GraphiQL for a schema of the user's own (examples/todo/schema.graphql, served by
// tests/browser.rs for this file): the page opens on that schema's first subscription and the
// mutation that fires it, not on the status schema, and the subscription runs as it opened.
//
// Env: SWITCHBOARD_BASE_URL, SWITCHBOARD_API_KEY and optionally CHROMIUM_PATH.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';

const origin = new URL(process.env.SWITCHBOARD_BASE_URL ?? 'http://127.0.0.1:4000').origin;
const graphqlUrl = `${origin}/graphql`;
const key = process.env.SWITCHBOARD_API_KEY ?? '';
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

async function createTodo(n) {
  const response = await fetch(graphqlUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': key },
    body: JSON.stringify({
      query: 'mutation($id: ID!, $t: String!) { createTodo(id: $id, title: $t) { id title } }',
      variables: { id: `t${n}`, t: `custom_todo_${n}` },
    }),
  });
  const body = await response.json();
  assert.equal(response.status, 200, JSON.stringify(body));
  assert.equal(body.errors, undefined, JSON.stringify(body));
}

test('GraphiQL opens on the served schema\'s own subscription and mutation', { timeout: 60_000 }, async () => {
  const page = await browser.newPage();
  const problems = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  const response = await page.goto(graphqlUrl, { timeout: WAIT });
  assert.equal(response.status(), 200);
  await page.locator('.graphiql-execute-button').waitFor({ timeout: WAIT });
  const query = await page.locator('.graphiql-query-editor').innerText();
  assert.match(query, /subscription OnCreateTodo/);
  assert.match(query, /onCreateTodo \{/);
  assert.match(query, /# mutation CreateTodo/);
  assert.match(query, /# {3}createTodo\(id: "1", title: "example"\)/);
  assert.doesNotMatch(query, /onStatusUpdate/);

  await page.locator('.graphiql-execute-button').click();
  const result = page.locator('.result-window');
  let shown = '';
  for (let n = 0; n < 20 && !shown.includes('custom_todo_'); n += 1) {
    await createTodo(n);
    await page.waitForTimeout(250);
    shown = await result.innerText();
  }
  assert.match(shown, /"title": "custom_todo_\d+"/, `the result pane shows the todo: ${shown}`);
  assert.deepEqual(problems, [], 'no console errors');
  await page.close();
});
