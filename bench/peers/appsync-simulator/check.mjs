// End-to-end check of the appsync-simulator peer (which must already be running):
//
//   node check.mjs --port P [--api-key K]
//
// Speaks AppSync's real-time protocol with a raw `ws` client: one connection per user (A, B),
// connection_init -> connection_ack, start -> start_ack, then `data`. Publishes A1, B1, A2 over
// HTTP (one keep-alive connection, x-api-key) and asserts A got exactly A1, A2 and B got B1, i.e.
// that the userId filter added by server.mjs works. Also checks: a wrong API key is refused
// (HTTP 401, WebSocket closed), and a `header` query parameter whose base64 contains a raw `+`
// is refused while the same one percent-encoded is accepted, and a `start` with a wrong key leaves
// the server running. Prints `check: ok` on success.
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';

let port = 4000;
let apiKey = 'da2-bench-key';
for (let i = 2; i < process.argv.length; i++) {
  if (process.argv[i] === '--port') port = Number(process.argv[++i]);
  else if (process.argv[i] === '--api-key') apiKey = process.argv[++i];
  else throw new Error(`unknown argument ${process.argv[i]}`);
}
const host = `127.0.0.1:${port}`;

const SUB = `subscription S($userId: ID!) {
  onStatusUpdate(userId: $userId) { jobId userId status message timestamp }
}`;
const PUB = `mutation P($input: StatusInput!) {
  publishStatus(input: $input) { jobId userId agentName status message timestamp }
}`;
const run = randomUUID().slice(0, 8);
const userA = `A-${run}`;
const userB = `B-${run}`;
const notes = [];

function fail(msg) {
  console.error(`check: FAILED: ${msg}`);
  process.exit(1);
}
const timer = setTimeout(() => fail('timed out after 15 s'), 15_000);

// --- AppSync real-time URL --------------------------------------------------------------------
function realtimeUrl(headerObj, { encode = true } = {}) {
  const b64 = Buffer.from(JSON.stringify(headerObj)).toString('base64');
  const header = encode ? encodeURIComponent(b64) : b64;
  return { url: `ws://${host}/graphql?header=${header}&payload=e30=`, b64 };
}

// Opens a connection and resolves with the connection_ack, or rejects with the close code.
function connect(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, 'graphql-ws');
    const inbox = [];
    let ack = null;
    ws.on('message', (raw) => {
      const m = JSON.parse(raw.toString());
      inbox.push(m);
      if (m.type === 'connection_ack' && !ack) {
        ack = m;
        resolve({ ws, ack, inbox });
      }
    });
    ws.on('open', () => ws.send(JSON.stringify({ type: 'connection_init' })));
    ws.on('close', (code) => reject(Object.assign(new Error(`closed ${code}`), { code })));
    ws.on('error', (err) => reject(err));
  });
}

async function subscriber(userId) {
  const { url } = realtimeUrl({ host, 'x-api-key': apiKey });
  const conn = await connect(url);
  const id = randomUUID();
  const got = [];
  const others = [];
  const started = new Promise((resolve) => {
    conn.ws.on('message', (raw) => {
      const m = JSON.parse(raw.toString());
      if (m.type === 'start_ack' && m.id === id) resolve(m);
      else if (m.type === 'data' && m.id === id) {
        if (m.payload.errors) fail(`data errors: ${JSON.stringify(m.payload.errors)}`);
        got.push(m.payload.data.onStatusUpdate);
      } else if (m.type === 'error') fail(`error message: ${JSON.stringify(m)}`);
      else others.push(m);
    });
  });
  conn.ws.send(
    JSON.stringify({
      id,
      type: 'start',
      payload: {
        data: JSON.stringify({ query: SUB, variables: { userId } }),
        extensions: { authorization: { host, 'x-api-key': apiKey } },
      },
    }),
  );
  const startAck = await started;
  return { ...conn, id, got, others, startAck };
}

// --- HTTP publisher over one keep-alive connection -------------------------------------------
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const sockets = new Set();
function post(body, key) {
  const text = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: '/graphql',
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(text),
          'x-api-key': key,
        },
      },
      (res) => {
        sockets.add(res.socket);
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode, body: JSON.parse(Buffer.concat(chunks).toString()) }),
        );
      },
    );
    req.on('error', reject);
    req.end(text);
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

// --- 1. the main scenario ---------------------------------------------------------------------
const a = await subscriber(userA);
const b = await subscriber(userB);
notes.push(`connection_ack = ${JSON.stringify(a.ack)}`);
notes.push(`start_ack = ${JSON.stringify(a.startAck)}`);

const A1 = status(userA, 1);
const B1 = status(userB, 1);
const A2 = status(userA, 2);
for (const input of [A1, B1, A2]) {
  const r = await post({ query: PUB, variables: { input } }, apiKey);
  if (r.status !== 200 || r.body.errors) fail(`publish: HTTP ${r.status} ${JSON.stringify(r.body)}`);
  const p = r.body.data?.publishStatus;
  for (const k of Object.keys(input)) if (p?.[k] !== input[k]) fail(`publish echoed ${k}=${p?.[k]}`);
  if (!ISO.test(p.timestamp)) fail(`publish timestamp ${p.timestamp}`);
}
if (sockets.size !== 1) fail(`HTTP keep-alive not reused: ${sockets.size} connections`);

const deadline = Date.now() + 3000;
while (Date.now() < deadline && (a.got.length < 2 || b.got.length < 1))
  await new Promise((r) => setTimeout(r, 10));
await new Promise((r) => setTimeout(r, 300)); // catch anything extra (another user's status)
expectList('A', a.got, [A1, A2]);
expectList('B', b.got, [B1]);
const ka = [...a.others, ...b.others].filter((m) => m.type === 'ka').length;
notes.push(`ka messages seen during the check: ${ka}`);

// stop -> complete
const completed = new Promise((resolve) => {
  a.ws.on('message', (raw) => {
    const m = JSON.parse(raw.toString());
    if (m.type === 'complete' && m.id === a.id) resolve(m);
  });
});
a.ws.send(JSON.stringify({ id: a.id, type: 'stop' }));
notes.push(`stop answered with ${JSON.stringify(await completed)}`);

// --- 2. wrong API key -------------------------------------------------------------------------
const bad = await post({ query: PUB, variables: { input: A1 } }, `${apiKey}-wrong`);
if (bad.status !== 401) fail(`wrong key over HTTP gave ${bad.status}`);
try {
  const c = await connect(realtimeUrl({ host, 'x-api-key': `${apiKey}-wrong` }).url);
  c.ws.close();
  fail('wrong key over WebSocket was accepted');
} catch (err) {
  notes.push(`wrong key over WebSocket: ${err.message}`);
}

// --- 3. a raw `+` in the header parameter -------------------------------------------------------
let plusHeader = null;
for (let i = 0; i < 1000 && !plusHeader; i++) {
  const h = { host, 'x-api-key': apiKey, 'x-pad': 'p'.repeat(i % 7) + String.fromCharCode(0x3e + (i % 3)) };
  const { b64 } = realtimeUrl(h);
  if (b64.includes('+')) plusHeader = h;
}
if (!plusHeader) fail('could not build a header whose base64 contains +');
try {
  const c = await connect(realtimeUrl(plusHeader, { encode: false }).url);
  c.ws.close();
  fail('raw + in header was accepted (expected the simulator to decode it as a space)');
} catch (err) {
  notes.push(`raw + in ?header=: refused (${err.message})`);
}
{
  const c = await connect(realtimeUrl(plusHeader, { encode: true }).url);
  notes.push('percent-encoded + in ?header=: accepted');
  c.ws.close();
}

// --- 4. a `start` with a wrong key must not take the server down (server.mjs change 3) ---------
{
  const c = await connect(realtimeUrl({ host, 'x-api-key': apiKey }).url);
  const replies = [];
  c.ws.on('message', (raw) => replies.push(JSON.parse(raw.toString()).type));
  c.ws.send(
    JSON.stringify({
      id: 'bad-start',
      type: 'start',
      payload: {
        data: JSON.stringify({ query: SUB, variables: { userId: userA } }),
        extensions: { authorization: { host, 'x-api-key': `${apiKey}-wrong` } },
      },
    }),
  );
  await new Promise((r) => setTimeout(r, 300));
  const r = await post({ query: PUB, variables: { input: status(userB, 9) } }, apiKey);
  if (r.status !== 200) fail(`server not answering after a bad start: HTTP ${r.status}`);
  notes.push(`start with a wrong key: replies ${JSON.stringify(replies)}, server still up`);
  c.ws.close();
}

a.ws.close();
b.ws.close();
agent.destroy();
clearTimeout(timer);
for (const n of notes) console.log(`  ${n}`);
console.log(`check: ok (A got ${a.got.length}, B got ${b.got.length}, 1 keep-alive HTTP connection)`);
