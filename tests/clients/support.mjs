// What the client tests share: the environment the Rust runner sets, publishing over HTTP, an
// inbox for a subscription's events, and the interleaved-statuses check every client must pass.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';

/** How long any one wait may take before the test fails. */
export const WAIT_MS = 5000;

export const PUBLISH = `mutation P($input: StatusInput!) {
  publishStatus(input: $input) { jobId userId agentName status message timestamp }
}`;
export const ON_STATUS = `subscription OnStatus($userId: ID!) {
  onStatusUpdate(userId: $userId) { jobId userId status timestamp }
}`;

/** Published until the subscriber sees one, to learn that its subscription is live. */
const WARM_UP = 'warm-up';
/** Published last to each user, so a subscriber knows it has received everything. */
const DONE = 'done';

export function env(name) {
  const value = process.env[name];
  assert.ok(value, `${name} must be set (run through \`cargo test --test js_clients\`)`);
  return value;
}

export const API_KEY = env('SWITCHBOARD_API_KEY');

/** Publishes a status over HTTP to the instance at `url` and returns the published `Status`. */
export async function publish(url, userId, status) {
  // Node's fetch trusts NODE_EXTRA_CA_CERTS like the rest of Node's TLS.
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': API_KEY },
    body: JSON.stringify({ query: PUBLISH, variables: { input: { jobId: 'job-1', userId, status } } }),
    signal: AbortSignal.timeout(WAIT_MS),
  }).catch((error) => {
    // "fetch failed" says nothing of a refused connection or an untrusted certificate.
    throw new Error(`POST ${url}: ${error.message} (${error.cause?.message ?? error.cause})`, { cause: error });
  });
  const body = await response.json();
  assert.equal(response.status, 200, JSON.stringify(body));
  assert.equal(body.errors, undefined, JSON.stringify(body));
  assert.equal(body.data.publishStatus.status, status);
  return body.data.publishStatus;
}

/** What a subscription's sink receives, in order, each awaited with a time limit. */
export class Inbox {
  #events = [];
  #waiter = null;

  /** A sink (the `{next, error, complete}` observer all these libraries take) feeding this inbox. */
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
    assert.ok(event.next, `expected a status for ${userId}, got ${show(event)}`);
    assert.equal(event.next.errors, undefined, JSON.stringify(event.next));
    const status = event.next.data.onStatusUpdate;
    assert.equal(status.userId, userId, JSON.stringify(status));
    assert.equal(status.jobId, 'job-1');
    assert.ok(status.timestamp.endsWith('Z'), `UTC timestamp: ${status.timestamp}`);
    assert.ok(!Number.isNaN(Date.parse(status.timestamp)), `a date: ${status.timestamp}`);
    return status.status;
  }
}

/** An inbox event for a failure message; errors (Amplify's are plain objects) in full. */
function show(event) {
  const error = event.error;
  if (error instanceof Error) return `error ${error.stack} ${JSON.stringify(error)}`;
  return JSON.stringify(event);
}

/**
 * A subscription is live once the server has sent `start_ack`, which subscription-link does not
 * tell its caller (Amplify only on its Hub). So publish a warm-up status every 100 ms until the
 * first one arrives.
 */
async function untilLive(url, userId, inbox) {
  const deadline = Date.now() + WAIT_MS;
  while (Date.now() < deadline) {
    await publish(url, userId, WARM_UP);
    const status = await inbox.nextStatus(userId, 100);
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
 * Subscribes two users, A and B (ids unique to this run), through `subscribe(userId, sink)`, which
 * returns something with an (async or not) `close()`; publishes an interleaved sequence to the
 * instance at `url`; and checks each received exactly its own statuses, in order. Closes both at
 * the end.
 */
export async function interleavedStatusesReachExactlyTheirUser(url, subscribe) {
  const run = randomUUID();
  const [a, b] = [`A-${run}`, `B-${run}`];
  const [inboxA, inboxB] = [new Inbox(), new Inbox()];
  const subscriptions = [];
  try {
    subscriptions.push(subscribe(a, inboxA.sink()));
    subscriptions.push(subscribe(b, inboxB.sink()));
    await untilLive(url, a, inboxA);
    await untilLive(url, b, inboxB);

    for (const [user, status] of [[b, 'B1'], [a, 'A1'], [b, 'B2'], [a, 'A2'], [a, 'A3'], [a, DONE], [b, DONE]]) {
      await publish(url, user, status);
    }

    assert.deepEqual(await statusesUntilDone(a, inboxA), ['A1', 'A2', 'A3']);
    assert.deepEqual(await statusesUntilDone(b, inboxB), ['B1', 'B2']);
  } finally {
    for (const subscription of subscriptions) await subscription.close();
  }
}
