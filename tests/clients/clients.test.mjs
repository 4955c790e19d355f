// Switchboard with real, unmodified third-party clients: `graphql-ws` (protocol
// graphql-transport-ws) and Apollo's `subscriptions-transport-ws` (legacy subprotocol `graphql-ws`).
// Run by tests/js_clients.rs, which starts the server and sets the SWITCHBOARD_* variables.

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { createClient } from 'graphql-ws';
import { SubscriptionClient } from 'subscriptions-transport-ws';

const HTTP_URL = env('SWITCHBOARD_HTTP_URL');
const WS_URL = env('SWITCHBOARD_WS_URL');
const API_KEY = env('SWITCHBOARD_API_KEY');

/** How long any one wait may take before the test fails. */
const WAIT_MS = 5000;

const PUBLISH = `mutation P($input: StatusInput!) {
  publishStatus(input: $input) { jobId userId agentName status message timestamp }
}`;
const ON_STATUS = `subscription OnStatus($userId: ID!) {
  onStatusUpdate(userId: $userId) { jobId userId status timestamp }
}`;

/** Published until the subscriber sees one, to learn that its subscription is live. */
const WARM_UP = 'warm-up';
/** Published last to each user, so a subscriber knows it has received everything. */
const DONE = 'done';

function env(name) {
  const value = process.env[name];
  assert.ok(value, `${name} must be set (run through \`cargo test --test js_clients\`)`);
  return value;
}

/** Publishes a status over HTTP and returns the published `Status`. */
async function publish(userId, status) {
  const response = await fetch(HTTP_URL, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': API_KEY },
    body: JSON.stringify({ query: PUBLISH, variables: { input: { jobId: 'job-1', userId, status } } }),
    signal: AbortSignal.timeout(WAIT_MS),
  });
  const body = await response.json();
  assert.equal(response.status, 200, JSON.stringify(body));
  assert.equal(body.errors, undefined, JSON.stringify(body));
  assert.equal(body.data.publishStatus.status, status);
  return body.data.publishStatus;
}

/** What a subscription's sink receives, in order, each awaited with a time limit. */
class Inbox {
  #events = [];
  #waiter = null;

  /** A sink (the `{next, error, complete}` observer both libraries take) feeding this inbox. */
  sink() {
    return {
      next: (value) => this.#push({ next: value }),
      error: (error) => this.#push({ error }),
      complete: () => this.#push({ complete: true }),
    };
  }

  #push(event) {
    if (this.#waiter) this.#waiter(event);
    else this.#events.push(event);
  }

  /** The next event, or `undefined` if none arrives within `ms`. */
  next(ms = WAIT_MS) {
    if (this.#events.length > 0) return Promise.resolve(this.#events.shift());
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiter = null;
        resolve(undefined);
      }, ms);
      this.#waiter = (event) => {
        clearTimeout(timer);
        this.#waiter = null;
        resolve(event);
      };
    });
  }

  /** The next `onStatusUpdate`, checked to be `userId`'s, with a valid timestamp. */
  async nextStatus(userId, ms = WAIT_MS) {
    const event = await this.next(ms);
    if (event === undefined) return undefined;
    assert.ok(event.next, `expected a status for ${userId}, got ${JSON.stringify(event)}`);
    assert.equal(event.next.errors, undefined, JSON.stringify(event.next));
    const status = event.next.data.onStatusUpdate;
    assert.equal(status.userId, userId, JSON.stringify(status));
    assert.equal(status.jobId, 'job-1');
    assert.ok(status.timestamp.endsWith('Z'), `UTC timestamp: ${status.timestamp}`);
    assert.ok(!Number.isNaN(Date.parse(status.timestamp)), `a date: ${status.timestamp}`);
    return status.status;
  }
}

/**
 * Neither protocol acknowledges a subscription (graphql-transport-ws never does; the legacy
 * protocol's server sends nothing either), and neither client can send a ping on demand. So, to
 * know a subscription is live, publish a warm-up status every 50 ms until the first one arrives.
 */
async function untilLive(userId, inbox) {
  for (let attempt = 0; attempt < 100; attempt++) {
    await publish(userId, WARM_UP);
    const status = await inbox.nextStatus(userId, 50);
    if (status !== undefined) {
      assert.equal(status, WARM_UP);
      return;
    }
  }
  assert.fail(`the subscription for ${userId} never received a status`);
}

/** The statuses received up to `DONE`, without the leading warm-ups still in flight. */
async function statusesUntilDone(userId, inbox) {
  const statuses = [];
  for (;;) {
    const status = await inbox.nextStatus(userId);
    assert.notEqual(status, undefined, `${userId} is missing statuses after ${statuses}`);
    if (status === DONE) break;
    if (status === WARM_UP && statuses.length === 0) continue;
    statuses.push(status);
  }
  return statuses;
}

/**
 * Two subscribers, A and B (user ids unique to this run), each on its own connection made by
 * `connect`, which returns the subscribe function and a function that closes the connection.
 */
async function interleavedStatusesReachExactlyTheirUser(connect) {
  const run = randomUUID();
  const [a, b] = [`A-${run}`, `B-${run}`];
  const [inboxA, inboxB] = [new Inbox(), new Inbox()];
  const alice = connect();
  const bob = connect();
  try {
    alice.subscribe(a, inboxA.sink());
    bob.subscribe(b, inboxB.sink());
    await untilLive(a, inboxA);
    await untilLive(b, inboxB);

    for (const [user, status] of [[b, 'B1'], [a, 'A1'], [b, 'B2'], [a, 'A2'], [a, 'A3'], [a, DONE], [b, DONE]]) {
      await publish(user, status);
    }

    assert.deepEqual(await statusesUntilDone(a, inboxA), ['A1', 'A2', 'A3']);
    assert.deepEqual(await statusesUntilDone(b, inboxB), ['B1', 'B2']);
  } finally {
    await alice.close();
    await bob.close();
  }
}

/** Resolves with what `register(resolve)` reports, or rejects after `WAIT_MS`. */
function within(what, register) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), WAIT_MS);
    register((value) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

describe('graphql-ws (graphql-transport-ws)', () => {
  const options = {
    url: WS_URL,
    webSocketImpl: WebSocket,
    connectionParams: { 'x-api-key': API_KEY },
    retryAttempts: 0,
  };

  test('interleaved statuses reach exactly their user, in order', async () => {
    await interleavedStatusesReachExactlyTheirUser(() => {
      const client = createClient(options);
      return {
        subscribe: (userId, sink) => client.subscribe({ query: ON_STATUS, variables: { userId } }, sink),
        close: () => client.dispose(),
      };
    });
  });

  test('a wrong API key closes the socket with 4403', async () => {
    let client;
    const closed = within('the close', (resolve) => {
      client = createClient({
        ...options,
        connectionParams: { 'x-api-key': 'not-the-key' },
        lazy: false,
        on: { closed: resolve },
        // Reported through `on.closed` above; without this the client logs the close event.
        onNonLazyError: () => {},
      });
    });
    try {
      const event = await closed;
      assert.equal(event.code, 4403, `close reason: ${event.reason}`);
    } finally {
      await client.dispose();
    }
  });

  test('a query over the socket is an UnsupportedOperation error', async () => {
    const client = createClient(options);
    try {
      const inbox = new Inbox();
      client.subscribe({ query: '{ __typename }' }, inbox.sink());
      const event = await inbox.next();
      assert.ok(event?.error, `expected an error, got ${JSON.stringify(event)}`);
      const errors = event.error;
      assert.ok(Array.isArray(errors), `GraphQL errors, not ${errors}`);
      assert.equal(errors[0].extensions?.errorType, 'UnsupportedOperation', JSON.stringify(errors));
    } finally {
      await client.dispose();
    }
  });
});

describe('subscriptions-transport-ws (legacy graphql-ws subprotocol)', () => {
  test('interleaved statuses reach exactly their user, in order', async () => {
    await interleavedStatusesReachExactlyTheirUser(() => {
      const client = new SubscriptionClient(
        WS_URL,
        { connectionParams: { 'x-api-key': API_KEY }, reconnect: false },
        WebSocket,
      );
      return {
        subscribe: (userId, sink) => client.request({ query: ON_STATUS, variables: { userId } }).subscribe(sink),
        close: () => client.close(),
      };
    });
  });
});
