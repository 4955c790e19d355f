// Switchboard with the AWS AppSync JavaScript clients, unmodified: Amplify JS v6 (`aws-amplify`)
// and `aws-appsync-subscription-link` under Apollo Client. Both speak AppSync's real-time protocol
// (subprotocols `graphql-ws` + `header-<base64url auth>`; `connection_init`, `start`/`start_ack`,
// `data`, `stop`) and derive the WebSocket URL from the HTTP GraphQL endpoint, appending `/realtime`.
// Run by tests/js_clients.rs, which starts the servers and sets the SWITCHBOARD_* variables, and
// NODE_EXTRA_CA_CERTS to the TLS instance's CA: TLS is verified, as a browser would.

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import {
  API_KEY,
  Inbox,
  ON_STATUS,
  WAIT_MS,
  env,
  interleavedStatusesReachExactlyTheirUser,
  publish,
} from './support.mjs';

/** Every WebSocket the libraries open, to check where they dial and that they close it again. */
const sockets = [];

class RecordedWebSocket extends WebSocket {
  constructor(url, protocols, options) {
    super(url, protocols, options);
    sockets.push({ url: String(url), protocols: [protocols ?? []].flat(), socket: this });
  }
}

// Long timers (none of this file's own) are not to keep node alive by themselves; they still fire
// while anything else does. Each time they dial, both libraries arm a 15 s `connection_ack`
// watchdog that they never clear (Amplify's `_initiateHandshake`, subscription-link's
// `checkAckOk`), which would hold this process open for 15 s after the last test; and after a
// failed connection Amplify re-dials every 60 s until it connects, for ever (`ReconnectionMonitor`).
const LONG_TIMER_MS = 15000;
for (const name of ['setTimeout', 'setInterval']) {
  const schedule = globalThis[name];
  globalThis[name] = (callback, ms, ...args) => {
    const timer = schedule(callback, ms, ...args);
    if (ms >= LONG_TIMER_MS) timer.unref();
    return timer;
  };
}

// Both libraries dial with the global `WebSocket`, as in a browser; Node 20 has none (22 has
// undici's). Installed before they load, hence the dynamic imports.
globalThis.WebSocket = RecordedWebSocket;

const { Amplify } = await import('aws-amplify');
const { generateClient } = await import('aws-amplify/api');
const { ApolloClient, ApolloLink, InMemoryCache, gql } = await import('@apollo/client');
const { AUTH_TYPE, createAuthLink } = await import('aws-appsync-auth-link');
const { createSubscriptionHandshakeLink } = await import('aws-appsync-subscription-link');

const HTTP_URL = env('SWITCHBOARD_HTTP_URL'); // http://127.0.0.1:P/graphql
const WS_URL = env('SWITCHBOARD_WS_URL'); // ws://127.0.0.1:P/graphql
const HTTPS_URL = env('SWITCHBOARD_HTTPS_URL'); // https://localhost:Q/graphql, its own instance
// An instance started with `--replay-latest onStatusUpdate`.
const REPLAY_HTTP_URL = env('SWITCHBOARD_REPLAY_HTTP_URL');
const REPLAY_WS_URL = env('SWITCHBOARD_REPLAY_WS_URL');
// An instance serving tests/fixtures/amplify-todo.graphql, Amplify's schema for a `Todo` model.
const TODO_HTTP_URL = env('SWITCHBOARD_TODO_HTTP_URL');
const TODO_WS_URL = env('SWITCHBOARD_TODO_WS_URL');

const ON_CREATE_TODO = `subscription OnCreateTodo($filter: ModelSubscriptionTodoFilterInput, $owner: String) {
  onCreateTodo(filter: $filter, owner: $owner) { id name priority status owner createdAt updatedAt }
}`;

/** Creates a todo over HTTP, as an app's `client.graphql({query: createTodo})` would. */
async function createTodo(input) {
  const response = await fetch(TODO_HTTP_URL, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': API_KEY },
    body: JSON.stringify({
      query: 'mutation C($input: CreateTodoInput!) { createTodo(input: $input) { id name } }',
      variables: { input },
    }),
    signal: AbortSignal.timeout(WAIT_MS),
  });
  const body = await response.json();
  assert.equal(body.errors, undefined, JSON.stringify(body));
  return body.data.createTodo;
}

/** The names an inbox of `onCreateTodo` receives, `count` of them, then nothing more. */
async function todoNames(inbox, count) {
  const names = [];
  while (names.length < count) {
    const event = await inbox.next();
    assert.ok(event && event.next, `expected a todo, got ${JSON.stringify(event)}`);
    const todo = event.next.data.onCreateTodo;
    if (todo.name === 'warm-up' && names.length === 0) continue;
    names.push(todo.name);
  }
  const extra = await inbox.next(300);
  assert.equal(extra, undefined, `nothing more: ${JSON.stringify(extra)}`);
  return names;
}
const REGION = 'us-east-1';

/** An unsubscribable as the shared check closes it. */
const closing = (subscription) => ({ close: () => subscription.unsubscribe() });

function socketsMadeSince(first) {
  return JSON.stringify(sockets.slice(first).map(({ url, socket }) => ({ url, readyState: socket.readyState })));
}

/**
 * Runs `body` and checks the library dialled one WebSocket, to `url`, offering `graphql-ws` and
 * the API key in a `header-` subprotocol for `host`, got `graphql-ws` back, and closed the socket
 * once `body` had unsubscribed everything (both libraries do so a second later). Whatever fails,
 * ends with every socket made meanwhile closed, so that no library keeps node running.
 */
async function oneSocket({ url, host }, body) {
  const first = sockets.length;
  try {
    try {
      await body();
    } catch (error) {
      error.message += `\nWebSockets opened: ${socketsMadeSince(first)}`;
      throw error;
    }
    const made = sockets.slice(first);
    assert.equal(made.length, 1, `one WebSocket for both subscriptions: ${socketsMadeSince(first)}`);
    const [{ url: dialled, protocols, socket }] = made;
    assert.equal(dialled, url);
    assert.equal(protocols.length, 2, JSON.stringify(protocols));
    assert.equal(protocols[0], 'graphql-ws');
    assert.match(protocols[1], /^header-[\w-]+$/);
    const auth = JSON.parse(Buffer.from(protocols[1].slice('header-'.length), 'base64url').toString());
    assert.equal(auth['x-api-key'], API_KEY);
    assert.equal(auth.host, host);
    assert.equal(socket.protocol, 'graphql-ws', 'the subprotocol the server chose');
    await closed(socket, `the library kept ${url} open after its subscriptions ended`);
  } finally {
    for (const { socket } of sockets.slice(first)) {
      if (socket.readyState === WebSocket.CLOSED) continue;
      socket.on('error', () => {}); // "closed before the connection was established"
      socket.terminate();
    }
  }
}

/** Resolves once `socket` is closed, or rejects with `message` after `WAIT_MS`. */
function closed(socket, message) {
  if (socket.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(message)), WAIT_MS);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

describe('Amplify JS v6 (aws-amplify)', () => {
  test('stock URL derivation over TLS: https://…/graphql dials wss://…/graphql/realtime', async () => {
    Amplify.configure({
      API: { GraphQL: { endpoint: HTTPS_URL, region: REGION, defaultAuthMode: 'apiKey', apiKey: API_KEY } },
    });
    const client = generateClient();
    const realtime = { url: `${HTTPS_URL.replace(/^https:/, 'wss:')}/realtime`, host: new URL(HTTPS_URL).host };
    await oneSocket(realtime, () =>
      interleavedStatusesReachExactlyTheirUser(HTTPS_URL, (userId, sink) =>
        closing(client.graphql({ query: ON_STATUS, variables: { userId } }).subscribe(sink)),
      ),
    );
  });

  test('subscriptions through their own ws:// endpoint: dials ws://…/graphql/realtime', async () => {
    // An app configured with a plain-HTTP endpoint (Amplify would turn http:// into wss://) gives
    // its subscriptions a client of their own, on the ws:// URL.
    Amplify.configure({
      API: { GraphQL: { endpoint: HTTP_URL, region: REGION, defaultAuthMode: 'apiKey', apiKey: API_KEY } },
    });
    const client = generateClient({ endpoint: WS_URL, authMode: 'apiKey', apiKey: API_KEY });
    await oneSocket({ url: `${WS_URL}/realtime`, host: new URL(WS_URL).host }, () =>
      interleavedStatusesReachExactlyTheirUser(HTTP_URL, (userId, sink) =>
        closing(client.graphql({ query: ON_STATUS, variables: { userId } }).subscribe(sink)),
      ),
    );
  });
});

describe('Amplify JS v6 with --replay-latest', () => {
  test('a new subscriber gets the current status at once, then live ones', async () => {
    const userId = `replay-${Date.now()}`;
    for (const status of ['validating', 'synthesizing']) await publish(REPLAY_HTTP_URL, userId, status);
    Amplify.configure({
      API: { GraphQL: { endpoint: REPLAY_HTTP_URL, region: REGION, defaultAuthMode: 'apiKey', apiKey: API_KEY } },
    });
    const client = generateClient({ endpoint: REPLAY_WS_URL, authMode: 'apiKey', apiKey: API_KEY });
    await oneSocket({ url: `${REPLAY_WS_URL}/realtime`, host: new URL(REPLAY_WS_URL).host }, async () => {
      const inbox = new Inbox();
      const subscription = client.graphql({ query: ON_STATUS, variables: { userId } }).subscribe(inbox.sink());
      try {
        assert.equal(await inbox.nextStatus(userId), 'synthesizing', 'the latest status, without publishing');
        await publish(REPLAY_HTTP_URL, userId, 'complete');
        assert.equal(await inbox.nextStatus(userId), 'complete');
      } finally {
        subscription.unsubscribe();
      }
    });
  });
});

describe('Amplify JS v6 with an Amplify model schema and subscription filters', () => {
  test('onCreateTodo(filter:) delivers exactly the matching creates, in order', async () => {
    Amplify.configure({
      API: { GraphQL: { endpoint: TODO_HTTP_URL, region: REGION, defaultAuthMode: 'apiKey', apiKey: API_KEY } },
    });
    const client = generateClient({ endpoint: TODO_WS_URL, authMode: 'apiKey', apiKey: API_KEY });
    const filters = [
      { priority: { gt: 3 }, status: { in: ['open', 'blocked'] } },
      { or: [{ priority: { eq: 1 } }, { and: [{ status: { eq: 'done' } }, { name: { beginsWith: 'p2' } }] }] },
    ];
    await oneSocket({ url: `${TODO_WS_URL}/realtime`, host: new URL(TODO_WS_URL).host }, async () => {
      const inboxes = filters.map(() => new Inbox());
      const subscriptions = filters.map((filter, n) =>
        client.graphql({ query: ON_CREATE_TODO, variables: { filter } }).subscribe(inboxes[n].sink()));
      try {
        // Live once a warm-up todo that passes both filters arrives at each.
        for (const inbox of inboxes) {
          const deadline = Date.now() + WAIT_MS;
          for (;;) {
            assert.ok(Date.now() < deadline, 'the subscription never went live');
            await createTodo({ name: 'warm-up', priority: 9, status: 'open' });
            await createTodo({ name: 'warm-up', priority: 1, status: 'x' });
            const event = await inbox.next(100);
            if (event) break;
          }
        }
        await new Promise((resolve) => setTimeout(resolve, 300));
        for (const inbox of inboxes) while (await inbox.next(50)) { /* warm-ups still in flight */ }
        for (const [name, priority, status] of [
          ['p1-open', 1, 'open'], ['p2-done', 2, 'done'], ['p5-open', 5, 'open'],
          ['p9-blocked', 9, 'blocked'], ['p7-done', 7, 'done'],
        ]) {
          await createTodo({ name, priority, status });
        }
        assert.deepEqual(await todoNames(inboxes[0], 2), ['p5-open', 'p9-blocked']);
        assert.deepEqual(await todoNames(inboxes[1], 2), ['p1-open', 'p2-done']);
      } finally {
        for (const subscription of subscriptions) subscription.unsubscribe();
      }
    });
  });
});

describe('aws-appsync-subscription-link with Apollo Client', () => {
  test('http://…/graphql dials ws://…/graphql/realtime', async () => {
    const config = { url: HTTP_URL, region: REGION, auth: { type: AUTH_TYPE.API_KEY, apiKey: API_KEY } };
    const client = new ApolloClient({
      link: ApolloLink.from([createAuthLink(config), createSubscriptionHandshakeLink(config)]),
      cache: new InMemoryCache(),
    });
    const query = gql(ON_STATUS);
    const realtime = { url: `${HTTP_URL.replace(/^http:/, 'ws:')}/realtime`, host: new URL(HTTP_URL).host };
    try {
      await oneSocket(realtime, () =>
        interleavedStatusesReachExactlyTheirUser(HTTP_URL, (userId, sink) =>
          closing(client.subscribe({ query, variables: { userId } }).subscribe(sink)),
        ),
      );
    } finally {
      client.stop();
    }
  });
});
