// Switchboard with real, unmodified third-party clients: `graphql-ws` (protocol
// graphql-transport-ws) and Apollo's `subscriptions-transport-ws` (legacy subprotocol `graphql-ws`).
// Run by tests/js_clients.rs, which starts the server and sets the SWITCHBOARD_* variables.

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { createClient } from 'graphql-ws';
import { SubscriptionClient } from 'subscriptions-transport-ws';
import { API_KEY, Inbox, ON_STATUS, WAIT_MS, env, interleavedStatusesReachExactlyTheirUser } from './support.mjs';

const WS_URL = env('SWITCHBOARD_WS_URL');
const HTTP_URL = env('SWITCHBOARD_HTTP_URL');

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
    // One connection per user.
    await interleavedStatusesReachExactlyTheirUser(HTTP_URL, (userId, sink) => {
      const client = createClient(options);
      client.subscribe({ query: ON_STATUS, variables: { userId } }, sink);
      return { close: () => client.dispose() };
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
    await interleavedStatusesReachExactlyTheirUser(HTTP_URL, (userId, sink) => {
      const client = new SubscriptionClient(
        WS_URL,
        { connectionParams: { 'x-api-key': API_KEY }, reconnect: false },
        WebSocket,
      );
      client.request({ query: ON_STATUS, variables: { userId } }).subscribe(sink);
      return { close: () => client.close() };
    });
  });
});
