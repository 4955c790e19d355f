// End-to-end check of the graphql-ws peer (which must already be running):
//
//   node check.mjs --port P [--host 127.0.0.1]
//
// Subscribes users A and B with the graphql-ws client (graphql-transport-ws) and user A once
// more over the legacy `graphql-ws` subprotocol (subscriptions-transport-ws), publishes A1, B1,
// A2 over HTTP (one keep-alive connection), and asserts each subscriber got exactly its user's
// statuses, in order. Exits 0 and prints `check: ok` on success.
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

let port = 4000;
let host = '127.0.0.1';
for (let i = 2; i < process.argv.length; i++) {
  if (process.argv[i] === '--port') port = Number(process.argv[++i]);
  else if (process.argv[i] === '--host') host = process.argv[++i];
  else if (process.argv[i] === '--api-key') i++;
  else throw new Error(`unknown argument ${process.argv[i]}`);
}

const SUB = `subscription S($userId: ID!) {
  onStatusUpdate(userId: $userId) { jobId userId status message timestamp }
}`;
const PUB = `mutation P($input: StatusInput!) {
  publishStatus(input: $input) { jobId userId agentName status message timestamp }
}`;
const run = randomUUID().slice(0, 8);
const userA = `A-${run}`;
const userB = `B-${run}`;

function fail(msg) {
  console.error(`check: FAILED: ${msg}`);
  process.exit(1);
}
const timer = setTimeout(() => fail('timed out after 10 s'), 10_000);

// --- graphql-transport-ws subscriber, with the optional ack (ping carrying our ackId) ---------
const acks = new Map();
const client = createClient({
  url: `ws://${host}:${port}/graphql`,
  webSocketImpl: WebSocket,
  retryAttempts: 0,
  on: {
    ping: (received, payload) => {
      if (received && payload?.ackId) acks.get(payload.ackId)?.();
    },
  },
});

function subscribeModern(userId) {
  const got = [];
  const ackId = randomUUID();
  const acked = new Promise((resolve) => acks.set(ackId, resolve));
  const dispose = client.subscribe(
    { query: SUB, variables: { userId }, extensions: { ackId } },
    {
      next: (r) => {
        if (r.errors) fail(`subscription errors: ${JSON.stringify(r.errors)}`);
        got.push(r.data.onStatusUpdate);
      },
      error: (e) => fail(`subscription error: ${e?.message ?? JSON.stringify(e)}`),
      complete: () => {},
    },
  );
  return { got, acked, dispose };
}

// --- legacy subscriptions-transport-ws subscriber (raw ws, subprotocol graphql-ws) -------------
function subscribeLegacy(userId) {
  const got = [];
  const ws = new WebSocket(`ws://${host}:${port}/graphql`, 'graphql-ws');
  const ready = new Promise((resolve, reject) => {
    ws.on('error', reject);
    ws.on('open', () => ws.send(JSON.stringify({ type: 'connection_init', payload: {} })));
    ws.on('message', (raw) => {
      const m = JSON.parse(raw.toString());
      if (m.type === 'connection_ack') {
        ws.send(
          JSON.stringify({ id: '1', type: 'start', payload: { query: SUB, variables: { userId } } }),
        );
        // the legacy protocol has no subscription ack; the server registers the subscription
        // while handling `start`, so a short pause is enough
        setTimeout(resolve, 200);
      } else if (m.type === 'data') {
        if (m.payload.errors) fail(`legacy errors: ${JSON.stringify(m.payload.errors)}`);
        got.push(m.payload.data.onStatusUpdate);
      } else if (m.type === 'error' || m.type === 'connection_error') {
        fail(`legacy ${m.type}: ${JSON.stringify(m.payload)}`);
      }
    });
  });
  return { got, ready, ws };
}

// --- HTTP publisher over one keep-alive connection -------------------------------------------
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const sockets = new Set();
function publish(input) {
  const body = JSON.stringify({ query: PUB, variables: { input } });
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host,
        port,
        path: '/graphql',
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          'x-api-key': 'anything',
        },
      },
      (res) => {
        sockets.add(res.socket);
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode}`));
          resolve(JSON.parse(Buffer.concat(chunks).toString()));
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

function status(userId, n) {
  return {
    jobId: `job-${run}`,
    userId,
    agentName: 'bench',
    status: `step_${n}`,
    message: `${userId} #${n}`,
  };
}

function expectList(name, got, want) {
  const g = got.map((s) => `${s.userId}/${s.status}`);
  const w = want.map((s) => `${s.userId}/${s.status}`);
  if (JSON.stringify(g) !== JSON.stringify(w))
    fail(`${name} got ${JSON.stringify(g)}, want ${JSON.stringify(w)}`);
  for (const s of got) {
    if (!ISO.test(s.timestamp)) fail(`${name}: bad timestamp ${s.timestamp}`);
    if (s.jobId !== `job-${run}`) fail(`${name}: bad jobId ${s.jobId}`);
  }
}

const a = subscribeModern(userA);
const b = subscribeModern(userB);
const legacyA = subscribeLegacy(userA);
await Promise.all([a.acked, b.acked, legacyA.ready]);

const A1 = status(userA, 1);
const B1 = status(userB, 1);
const A2 = status(userA, 2);
for (const input of [A1, B1, A2]) {
  const r = await publish(input);
  if (r.errors) fail(`publish errors: ${JSON.stringify(r.errors)}`);
  const p = r.data?.publishStatus;
  for (const k of Object.keys(input)) if (p?.[k] !== input[k]) fail(`publish echoed ${k}=${p?.[k]}`);
  if (!ISO.test(p.timestamp)) fail(`publish timestamp ${p.timestamp}`);
}
if (sockets.size !== 1) fail(`HTTP keep-alive not reused: ${sockets.size} connections`);

// wait for deliveries (and a little longer, to catch anything extra)
const deadline = Date.now() + 3000;
while (Date.now() < deadline && (a.got.length < 2 || b.got.length < 1 || legacyA.got.length < 2))
  await new Promise((r) => setTimeout(r, 10));
await new Promise((r) => setTimeout(r, 200));

expectList('A (graphql-transport-ws)', a.got, [A1, A2]);
expectList('B (graphql-transport-ws)', b.got, [B1]);
expectList('A (legacy graphql-ws)', legacyA.got, [A1, A2]);

a.dispose();
b.dispose();
legacyA.ws.close();
await client.dispose();
agent.destroy();
clearTimeout(timer);
console.log(
  `check: ok (A got ${a.got.length}, B got ${b.got.length}, legacy A got ${legacyA.got.length}, 1 keep-alive HTTP connection)`,
);
