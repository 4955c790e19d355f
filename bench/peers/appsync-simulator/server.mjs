// amplify-appsync-simulator (the engine of `amplify mock api`) serving Switchboard's status schema,
// for side-by-side benchmarks.
//
//   node server.mjs --port P [--api-key K] [--ws-port W] [--schema PATH] [--no-argument-filter]
//
// HTTP:      POST http://127.0.0.1:P/graphql   (header x-api-key: K)
// Real-time: ws://127.0.0.1:P/graphql?header=<base64 JSON {"host":..,"x-api-key":K}, percent-encoded>&payload=e30=
//            subprotocol `graphql-ws` (AppSync's real-time protocol)
// Prints exactly `ready` on stdout once listening; everything the simulator logs goes to stderr.
//
// What differs from a stock simulator, all done from outside its code (see README.md):
//   1. every socket it opens is bound to 127.0.0.1 (it calls `listen(port)`, i.e. all interfaces);
//   2. subscriptions are filtered by their arguments (the stock simulator ignores them, so every
//      subscriber of onStatusUpdate would receive every user's statuses);
//   3. an unhandled promise rejection (a `start` with a bad API key) is logged instead of killing
//      the process;
//   4. the HTTP server's idle keep-alive timeout is 65 s instead of Node's 5 s.
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { format } from 'node:util';

// Keep stdout for the `ready` line only: the simulator logs with console.log/info/warn.
const toStderr = (...args) => process.stderr.write(format(...args) + '\n');
console.log = toStderr;
console.info = toStderr;
console.warn = toStderr;
console.debug = toStderr;

const require = createRequire(import.meta.url);
const { AmplifyAppSyncSimulator } = require('amplify-appsync-simulator');
// The exact graphql-subscriptions copy the simulator itself uses (its dependency, not ours).
const simRequire = createRequire(require.resolve('amplify-appsync-simulator'));
const { withFilter } = simRequire('graphql-subscriptions');

const here = path.dirname(fileURLToPath(import.meta.url));
const BIND_HOST = '127.0.0.1';

// ---------------------------------------------------------------------------------------------
// arguments
function parseArgs(argv) {
  const out = {
    port: 4000,
    apiKey: 'da2-bench-key',
    wsPort: 0, // 0 = pick a free loopback port
    argumentFilter: true,
    schema: path.resolve(here, '../../../schema.graphql'),
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => {
      if (i + 1 >= argv.length) throw new Error(`missing value for ${a}`);
      return argv[++i];
    };
    if (a === '--port') out.port = Number(v());
    else if (a === '--api-key') out.apiKey = v();
    else if (a === '--ws-port') out.wsPort = Number(v());
    else if (a === '--schema') out.schema = v();
    // stock behaviour, for showing the upstream bug only: every subscriber gets every status
    else if (a === '--no-argument-filter') out.argumentFilter = false;
    else if (a === '--host') {
      if (v() !== BIND_HOST) throw new Error('this peer only binds 127.0.0.1');
    } else if (a === '--help' || a === '-h') {
      process.stdout.write(
        'usage: node server.mjs --port P [--api-key K] [--ws-port W] [--schema PATH]\n',
      );
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  // the simulator treats port 0 as "pick one in 8900-9999", so a real port is required
  if (!Number.isInteger(out.port) || out.port <= 0 || out.port > 65535)
    throw new Error(`bad --port ${out.port}`);
  if (!Number.isInteger(out.wsPort) || out.wsPort < 0 || out.wsPort > 65535)
    throw new Error(`bad --ws-port ${out.wsPort}`);
  return out;
}
const opts = parseArgs(process.argv.slice(2));

function freeLoopbackPort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen({ port: 0, host: BIND_HOST }, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// configuration: API_KEY auth, one NONE data source, pass-through VTL
const REQUEST_PUBLISH = `#set($status = {})
$util.qr($status.putAll($ctx.args.input))
$util.qr($status.put("timestamp", $util.time.nowISO8601()))
{
  "version": "2018-05-29",
  "payload": $util.toJson($status)
}`;
// statusHistory is not benchmarked: it only exists because the simulator needs a Query type.
const REQUEST_HISTORY = `{
  "version": "2018-05-29",
  "payload": []
}`;
const RESPONSE = `$util.toJson($ctx.result)`;

const config = {
  appSync: {
    name: 'switchboard-bench',
    defaultAuthenticationType: { authenticationType: 'API_KEY' },
    additionalAuthenticationProviders: [],
    apiKey: opts.apiKey,
  },
  schema: { content: readFileSync(opts.schema, 'utf8') },
  dataSources: [{ type: 'NONE', name: 'none' }],
  mappingTemplates: [
    { path: 'Mutation.publishStatus.req.vtl', content: REQUEST_PUBLISH },
    { path: 'Query.statusHistory.req.vtl', content: REQUEST_HISTORY },
    { path: 'passthrough.res.vtl', content: RESPONSE },
  ],
  resolvers: [
    {
      kind: 'UNIT',
      typeName: 'Mutation',
      fieldName: 'publishStatus',
      dataSourceName: 'none',
      requestMappingTemplateLocation: 'Mutation.publishStatus.req.vtl',
      responseMappingTemplateLocation: 'passthrough.res.vtl',
    },
    {
      kind: 'UNIT',
      typeName: 'Query',
      fieldName: 'statusHistory',
      dataSourceName: 'none',
      requestMappingTemplateLocation: 'Query.statusHistory.req.vtl',
      responseMappingTemplateLocation: 'passthrough.res.vtl',
    },
  ],
};

// ---------------------------------------------------------------------------------------------
// change 2: filter subscriptions by their arguments.
//
// The simulator's Subscription fields subscribe with `simulator.asyncIterator(fieldName)`, i.e.
// `withFilter(() => pubsub.asyncIterator(fieldName), filterSubscriptions)()`; it calls the filter
// without the field's arguments, so `filterSubscriptions(payload, undefined)` lets everything
// through. We wrap each Subscription field's `subscribe` in the built schema with one more
// `withFilter` (the same graphql-subscriptions copy) that keeps an event only if every non-null
// argument equals the same-named field of the published mutation result, which is AppSync's
// rule (for onStatusUpdate(userId): payload.userId === userId). Like the simulator's own design,
// this runs every subscriber's filter on every publish (one pub/sub topic per subscription field).
function addArgumentFilters(simulator) {
  const subscriptionType = simulator.schema.getSubscriptionType();
  if (!subscriptionType) return [];
  const wrapped = [];
  for (const field of Object.values(subscriptionType.getFields())) {
    const original = field.subscribe;
    if (typeof original !== 'function') continue;
    field.subscribe = withFilter(
      (source, args, context, info) => original(source, args, context, info),
      (payload, args) => {
        if (payload == null) return false;
        for (const key in args) {
          const want = args[key];
          if (want != null && payload[key] !== want) return false;
        }
        return true;
      },
    );
    wrapped.push(field.name);
  }
  return wrapped;
}

// ---------------------------------------------------------------------------------------------
// change 1: bind to 127.0.0.1.
//
// The simulator's two servers (its HTTP/real-time server on `port` and its MQTT-over-WebSocket
// server on `wsPort`) both call `server.listen(port)`, which binds every interface. While
// `start()` runs we wrap net.Server.prototype.listen so that a call whose only arguments are a
// port number (and optionally a callback) gets the host 127.0.0.1 added; every other form of
// `listen` (get-port's availability probes pass an options object) is left alone. The wrapper
// is removed as soon as `start()` returns, and we then check the bound addresses.
async function startOnLoopback(simulator) {
  const originalListen = net.Server.prototype.listen;
  const bound = [];
  net.Server.prototype.listen = function listenOnLoopback(...args) {
    if (
      typeof args[0] === 'number' &&
      (args.length === 1 || (args.length === 2 && typeof args[1] === 'function'))
    ) {
      bound.push(this);
      return originalListen.call(this, args[0], BIND_HOST, ...args.slice(1));
    }
    return originalListen.apply(this, args);
  };
  try {
    await simulator.start();
  } finally {
    net.Server.prototype.listen = originalListen;
  }
  for (const server of bound) {
    const address = server.address();
    if (!address || address.address !== BIND_HOST)
      throw new Error(`simulator socket bound to ${JSON.stringify(address)}, not ${BIND_HOST}`);
  }
  return bound;
}

// ---------------------------------------------------------------------------------------------
// change 3: survive a bad `start`.
//
// The real-time server handles `start` in an async function whose rejection nobody catches: a
// `start` whose extensions.authorization has a wrong/missing API key (or no `extensions` at all)
// becomes an unhandled promise rejection, and Node 20 then kills the whole process. We log such
// rejections to stderr instead; the offending subscription simply never gets a start_ack, and
// every other client carries on. No successful path is affected.
process.on('unhandledRejection', (reason) => {
  process.stderr.write(`appsync-simulator: unhandled rejection (process kept alive): ${reason?.stack ?? reason}\n`);
});

// ---------------------------------------------------------------------------------------------
const wsPort = opts.wsPort || (await freeLoopbackPort());
const simulator = new AmplifyAppSyncSimulator({ port: opts.port, wsPort });
simulator.init(config); // builds the schema; addArgumentFilters must run after every init/reload
const filtered = opts.argumentFilter ? addArgumentFilters(simulator) : [];
if (opts.argumentFilter && !filtered.includes('onStatusUpdate'))
  throw new Error('onStatusUpdate was not wrapped');
const servers = await startOnLoopback(simulator);
// Same idle keep-alive as the other peers (Node's default is 5 s), for the load generator's
// reused connections. This only changes the HTTP server's idle timeout.
for (const server of servers) {
  if (server.address()?.port === opts.port) {
    server.keepAliveTimeout = 65_000;
    server.headersTimeout = 66_000;
  }
}
process.stderr.write(
  `appsync-simulator: http+realtime on ${BIND_HOST}:${opts.port}, unused MQTT ws on ${BIND_HOST}:${wsPort}, ` +
    `argument filter on ${filtered.join(', ') || 'nothing (--no-argument-filter: stock behaviour)'}\n`,
);
process.stdout.write('ready\n');

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    try {
      simulator.stop();
    } finally {
      process.exit(0);
    }
  });
}
