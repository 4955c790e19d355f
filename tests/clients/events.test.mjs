// Switchboard's AppSync Events with the client AWS ships: Amplify JS v6's `events`
// (`events.connect`, `channel.subscribe`, `events.post`, `channel.publish` over the socket), in
// Node with `ws` as the global WebSocket, over TLS with the generated CA (Amplify always dials
// `wss://`). Run by tests/it/js_clients.rs with SWITCHBOARD_HTTPS_URL and NODE_EXTRA_CA_CERTS.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { API_KEY, ON_STATUS, WAIT_MS, env, publish } from './support.mjs';

// Amplify dials with the global `WebSocket`, as in a browser; its long timers must not hold node.
globalThis.WebSocket = WebSocket;
for (const name of ['setTimeout', 'setInterval']) {
  const schedule = globalThis[name];
  globalThis[name] = (callback, ms, ...args) => {
    const timer = schedule(callback, ms, ...args);
    if (ms >= 15000) timer.unref();
    return timer;
  };
}

const { Amplify } = await import('aws-amplify');
const { events } = await import('aws-amplify/data');
const { generateClient } = await import('aws-amplify/api');

const HTTPS_URL = env('SWITCHBOARD_HTTPS_URL'); // https://localhost:Q/graphql
const EVENT_URL = `${new URL(HTTPS_URL).origin}/event`;

/** The events a subscription receives, awaited in order. */
class Received {
  events = [];
  waiters = [];
  observer() {
    return {
      next: (message) => {
        this.events.push(message.event);
        for (const wake of this.waiters.splice(0)) wake();
      },
      error: (error) => assert.fail(`subscription error: ${JSON.stringify(error)}`),
    };
  }
  async count(n) {
    const deadline = Date.now() + WAIT_MS;
    while (this.events.length < n) {
      assert.ok(Date.now() < deadline, `only ${JSON.stringify(this.events)} of ${n}`);
      await new Promise((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    return this.events.map((e) => e.status);
  }
}

test('Amplify events: exact and wildcard channels, published over HTTP and the socket', async () => {
  Amplify.configure({
    API: { Events: { endpoint: EVENT_URL, region: 'us-east-1', defaultAuthMode: 'apiKey', apiKey: API_KEY } },
  });
  const run = Date.now();
  const [a, b, all] = await Promise.all([
    events.connect(`/default/users${run}/A`),
    events.connect(`/default/users${run}/B`),
    events.connect(`/default/users${run}/*`),
  ]);
  const received = [new Received(), new Received(), new Received()];
  const subscriptions = [a, b, all].map((channel, n) => channel.subscribe(received[n].observer()));
  try {
    await Promise.all(subscriptions.map((s) => s.ready));
    await events.post(`/default/users${run}/B`, { status: 'B1' });
    await a.publish({ status: 'A1' });
    await events.post(`/default/users${run}/B`, { status: 'B2' });
    await a.publish({ status: 'A2' });
    const failed = await events.post(`/default/users${run}/A`, { status: 'A3' });
    assert.equal(failed, undefined, JSON.stringify(failed));
    assert.deepEqual(await received[0].count(3), ['A1', 'A2', 'A3']);
    assert.deepEqual(await received[1].count(2), ['B1', 'B2']);
    assert.deepEqual(await received[2].count(5), ['B1', 'A1', 'B2', 'A2', 'A3']);
  } finally {
    for (const subscription of subscriptions) subscription.unsubscribe();
    await events.closeAll();
  }
});

test('the bridge: one publishStatus reaches an Amplify GraphQL subscriber and an Amplify events subscriber', async () => {
  Amplify.configure({
    API: {
      GraphQL: { endpoint: HTTPS_URL, region: 'us-east-1', defaultAuthMode: 'apiKey', apiKey: API_KEY },
      Events: { endpoint: EVENT_URL, region: 'us-east-1', defaultAuthMode: 'apiKey', apiKey: API_KEY },
    },
  });
  const userId = `bridge${Date.now()}`;
  const graphql = [];
  const client = generateClient();
  const statuses = client.graphql({ query: ON_STATUS, variables: { userId } }).subscribe({
    next: ({ data }) => graphql.push(data.onStatusUpdate.status),
    error: (error) => assert.fail(`GraphQL subscription error: ${JSON.stringify(error)}`),
  });
  const channel = await events.connect(`/status/${userId}/*`);
  const received = new Received();
  const subscription = channel.subscribe(received.observer());
  try {
    await subscription.ready;
    // The GraphQL subscription is live once a warm-up status arrives; the events channel is
    // already (its `ready` resolved).
    const deadline = Date.now() + WAIT_MS;
    while (!graphql.includes('warm-up')) {
      assert.ok(Date.now() < deadline, 'the GraphQL subscription never went live');
      await publish(HTTPS_URL, userId, 'warm-up');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await publish(HTTPS_URL, userId, 'validating');
    await publish(HTTPS_URL, userId, 'complete');
    const deadline2 = Date.now() + WAIT_MS;
    while (!graphql.includes('complete')) {
      assert.ok(Date.now() < deadline2, `GraphQL got ${graphql}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const viaEvents = await waitFor(received, (list) => list.includes('complete'));
    assert.deepEqual(viaEvents.filter((s) => s !== 'warm-up'), ['validating', 'complete']);
    assert.deepEqual(graphql.filter((s) => s !== 'warm-up'), ['validating', 'complete']);
    assert.equal(received.events.at(-1).userId, userId);
    assert.equal(received.events.at(-1).jobId, 'job-1');
  } finally {
    statuses.unsubscribe();
    subscription.unsubscribe();
    await events.closeAll();
  }
});

test('Amplify events signed with IAM: the connect, the subscribe, a publish over the socket and one over HTTP', async () => {
  // Amplify signs with whatever its credentials provider hands it, as with a Cognito
  // identity pool; the server holds the same key.
  const credentials = {
    accessKeyId: env('SWITCHBOARD_IAM_ACCESS_KEY'),
    secretAccessKey: env('SWITCHBOARD_IAM_SECRET'),
  };
  Amplify.configure(
    { API: { Events: { endpoint: EVENT_URL, region: 'us-east-1', defaultAuthMode: 'iam' } } },
    {
      Auth: {
        credentialsProvider: {
          getCredentialsAndIdentityId: async () => ({ credentials }),
          clearCredentialsAndIdentityId: () => {},
        },
      },
    },
  );
  const name = `/default/iam${Date.now()}/jobs`;
  const channel = await events.connect(name);
  const received = new Received();
  const subscription = channel.subscribe(received.observer());
  try {
    await subscription.ready;
    await channel.publish({ status: 'over the socket', path: 'a/b "c"' });
    const failed = await events.post(name, { status: 'over HTTP' });
    assert.equal(failed, undefined, JSON.stringify(failed));
    assert.deepEqual(await received.count(2), ['over the socket', 'over HTTP']);
  } finally {
    subscription.unsubscribe();
    await events.closeAll();
  }
});

/** The statuses `received` holds once `done` says they are complete. */
async function waitFor(received, done) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const list = received.events.map((e) => e.status);
    if (done(list)) return list;
    assert.ok(Date.now() < deadline, `only ${JSON.stringify(list)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
