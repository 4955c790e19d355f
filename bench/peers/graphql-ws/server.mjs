// Reference graphql-ws peer for Switchboard's side-by-side benchmarks.
//
//   node server.mjs --port P [--host 127.0.0.1] [--schema PATH]
//
// Serves on one port, path /graphql:
//   - POST /graphql: queries/mutations over HTTP (graphql-js `execute`), any x-api-key accepted;
//   - WebSocket, subprotocol `graphql-transport-ws`: graphql-ws 6 `useServer`;
//   - WebSocket, subprotocol `graphql-ws` (Apollo legacy): subscriptions-transport-ws 0.11,
//     dispatched on the offered subprotocol as in graphql-ws's backwards-compatibility recipe.
// Prints exactly `ready` on stdout once listening.
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import {
  buildSchema,
  execute,
  subscribe,
  parse,
  validate,
  getOperationAST,
  GraphQLError,
} from 'graphql';
import { GRAPHQL_TRANSPORT_WS_PROTOCOL, MessageType, stringifyMessage } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import subscriptionsTransportWs from 'subscriptions-transport-ws';

const { SubscriptionServer, GRAPHQL_WS } = subscriptionsTransportWs;
const here = path.dirname(fileURLToPath(import.meta.url));

// ---------------------------------------------------------------------------------------------
// arguments
function parseArgs(argv) {
  const out = {
    port: 4000,
    host: '127.0.0.1',
    // Switchboard's own status schema, so both servers always serve the same contract.
    schema: path.resolve(here, '../../../schema.graphql'),
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => {
      if (i + 1 >= argv.length) throw new Error(`missing value for ${a}`);
      return argv[++i];
    };
    if (a === '--port') out.port = Number(v());
    else if (a === '--host') out.host = v();
    else if (a === '--schema') out.schema = v();
    else if (a === '--api-key') v(); // accepted and ignored: this peer accepts any key
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: node server.mjs --port P [--host 127.0.0.1] [--schema PATH]\n');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (!Number.isInteger(out.port) || out.port < 0 || out.port > 65535)
    throw new Error(`bad --port ${out.port}`);
  return out;
}
const opts = parseArgs(process.argv.slice(2));

// ---------------------------------------------------------------------------------------------
// schema: the AppSync SDL plus the declarations graphql-js needs for it
const AWS_PRELUDE = `
scalar AWSDateTime
directive @aws_subscribe(mutations: [String]) on FIELD_DEFINITION
`;
const schema = buildSchema(AWS_PRELUDE + readFileSync(opts.schema, 'utf8'));
// buildSchema gives custom scalars identity serialize/parse, which is what we want for an
// ISO 8601 string.

// ---------------------------------------------------------------------------------------------
// pub/sub: one topic per userId. Map userId -> Set of pushers; each subscription is a small
// push-based async iterator that registers itself *eagerly* (when `subscribe` runs, not on the
// first `next()`), so a subscription is live as soon as graphql-ws has executed it.
const topics = new Map();

function topicIterator(userId) {
  const queue = [];
  let waiting = null; // resolve of a pending next()
  let done = false;
  let set = topics.get(userId);
  if (!set) topics.set(userId, (set = new Set()));
  const push = (value) => {
    if (waiting) {
      const resolve = waiting;
      waiting = null;
      resolve({ value, done: false });
    } else queue.push(value);
  };
  set.add(push);
  const finish = () => {
    if (done) return;
    done = true;
    set.delete(push);
    if (set.size === 0 && topics.get(userId) === set) topics.delete(userId);
    queue.length = 0;
    if (waiting) {
      const resolve = waiting;
      waiting = null;
      resolve({ value: undefined, done: true });
    }
  };
  return {
    next() {
      if (queue.length > 0) return Promise.resolve({ value: queue.shift(), done: false });
      if (done) return Promise.resolve({ value: undefined, done: true });
      return new Promise((resolve) => {
        waiting = resolve;
      });
    },
    return() {
      finish();
      return Promise.resolve({ value: undefined, done: true });
    },
    throw(err) {
      finish();
      return Promise.reject(err);
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

function publish(userId, status) {
  const set = topics.get(userId);
  if (!set) return;
  for (const push of set) push(status);
}

// ---------------------------------------------------------------------------------------------
// resolvers
const mutationFields = schema.getMutationType().getFields();
mutationFields.publishStatus.resolve = (_root, { input }) => {
  const status = { ...input, timestamp: new Date().toISOString() };
  publish(String(status.userId), status);
  return status;
};
const queryFields = schema.getQueryType().getFields();
// Not part of the benchmark: this peer keeps no history.
queryFields.statusHistory.resolve = () => [];
const subscriptionFields = schema.getSubscriptionType().getFields();
subscriptionFields.onStatusUpdate.subscribe = (_root, { userId }) => topicIterator(String(userId));
subscriptionFields.onStatusUpdate.resolve = (status) => status;

// ---------------------------------------------------------------------------------------------
// HTTP: POST /graphql. Parsed+validated documents are cached by query text (like any production
// server's parser cache); the load generator sends the same mutation text every time.
const documentCache = new Map();
const DOCUMENT_CACHE_MAX = 1000;

function prepare(query) {
  let entry = documentCache.get(query);
  if (entry) return entry;
  let document;
  try {
    document = parse(query);
  } catch (err) {
    return { errors: [err instanceof GraphQLError ? err : new GraphQLError(String(err))] };
  }
  const errors = validate(schema, document);
  entry = errors.length > 0 ? { errors } : { document };
  if (documentCache.size >= DOCUMENT_CACHE_MAX) documentCache.clear();
  documentCache.set(query, entry);
  return entry;
}

function sendJson(res, statusCode, body) {
  const text = JSON.stringify(body);
  res.writeHead(statusCode, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

async function handleGraphQL(body, res) {
  let params;
  try {
    params = JSON.parse(body);
  } catch {
    return sendJson(res, 400, { errors: [{ message: 'request body is not valid JSON' }] });
  }
  if (!params || typeof params.query !== 'string')
    return sendJson(res, 400, { errors: [{ message: 'missing "query"' }] });
  const prepared = prepare(params.query);
  if (prepared.errors) return sendJson(res, 400, { errors: prepared.errors });
  const op = getOperationAST(prepared.document, params.operationName);
  if (!op) return sendJson(res, 400, { errors: [{ message: 'unable to identify operation' }] });
  if (op.operation === 'subscription')
    return sendJson(res, 400, { errors: [{ message: 'subscriptions are served over WebSocket' }] });
  const result = await execute({
    schema,
    document: prepared.document,
    variableValues: params.variables ?? undefined,
    operationName: params.operationName ?? undefined,
  });
  sendJson(res, 200, result);
}

const server = http.createServer((req, res) => {
  const url = req.url ?? '/';
  const pathname = url.split('?', 1)[0];
  if (pathname !== '/graphql') {
    res.writeHead(404, { 'content-length': 0 });
    return res.end();
  }
  if (req.method !== 'POST') {
    res.writeHead(405, { allow: 'POST', 'content-length': 0 });
    return res.end();
  }
  // x-api-key: any value (or none) is accepted.
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    handleGraphQL(Buffer.concat(chunks).toString('utf8'), res).catch((err) => {
      if (!res.headersSent) sendJson(res, 500, { errors: [{ message: String(err?.message ?? err) }] });
      else res.destroy();
    });
  });
  req.on('error', () => res.destroy());
});
// The load generator keeps connections open between bursts; Node's default idle timeout is 5 s.
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;
server.requestTimeout = 0;

// ---------------------------------------------------------------------------------------------
// WebSockets on /graphql, dispatched on the offered subprotocol (graphql-ws recipe
// "ws server usage with subscriptions-transport-ws backwards compatibility").
const graphqlWs = new WebSocketServer({ noServer: true });
useServer(
  {
    schema,
    // Optional subscription acknowledgement (graphql-ws recipe "subscription acknowledgment"):
    // a client that puts `extensions.ackId` in its subscribe payload receives
    // `{"type":"ping","payload":{"ackId":...}}` once the subscription is registered. Clients that
    // don't ask get nothing extra.
    onOperation: (ctx, id, payload) => {
      const ackId = payload?.extensions?.ackId;
      if (typeof ackId === 'string' || typeof ackId === 'number') {
        const socket = ctx.extra.socket;
        if (socket.readyState === socket.OPEN)
          socket.send(stringifyMessage({ type: MessageType.Ping, payload: { ackId } }));
      }
    },
  },
  graphqlWs,
);

const legacyWs = new WebSocketServer({ noServer: true });
SubscriptionServer.create({ schema, execute, subscribe }, legacyWs);

server.on('upgrade', (req, socket, head) => {
  const pathname = (req.url ?? '/').split('?', 1)[0];
  if (pathname !== '/graphql') {
    socket.write('HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    return socket.destroy();
  }
  const header = req.headers['sec-websocket-protocol'];
  const protocols = Array.isArray(header)
    ? header
    : header?.split(',').map((p) => p.trim());
  const wss =
    protocols?.includes(GRAPHQL_WS) && !protocols.includes(GRAPHQL_TRANSPORT_WS_PROTOCOL)
      ? legacyWs
      : graphqlWs; // graphql-ws accepts its own subprotocol and rejects anything else
  wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
});

server.on('error', (err) => {
  process.stderr.write(`server error: ${err?.stack ?? err}\n`);
  process.exit(1);
});
server.listen(opts.port, opts.host, () => {
  process.stdout.write('ready\n');
});

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    server.close();
    for (const c of graphqlWs.clients) c.terminate();
    for (const c of legacyWs.clients) c.terminate();
    process.exit(0);
  });
}
