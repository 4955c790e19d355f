// The GraphiQL page Switchboard serves on `GET /graphql` to browsers (src/http/graphiql.rs).
// Queries and mutations go over HTTP POST to the page's own URL; subscriptions over
// graphql-transport-ws (graphql-ws) to the same URL as ws:// or wss://. The headers editor's
// JSON is sent as HTTP headers on POST and as the `connection_init` payload on the socket, so an
// `x-api-key` there authenticates both.
import { createGraphiQLFetcher } from '@graphiql/toolkit';
import { GraphiQL } from 'graphiql';
import React from 'react';
import { createRoot } from 'react-dom/client';
import 'graphiql/graphiql.css';

// The server writes `{"apiKey": "...", "subscription": "...", "mutation": "..."}` into a
// non-executing JSON script element, so the page needs no inline script: the key (empty unless
// the page is for local use) and an example built from the served schema (its first
// subscription, and a mutation that fires it).
function readConfig() {
  const element = document.getElementById('switchboard-config');
  try {
    return JSON.parse(element ? element.textContent : '{}') || {};
  } catch {
    return {};
  }
}

const config = readConfig();
const apiKey = typeof config.apiKey === 'string' ? config.apiKey : '';
const url = window.location.origin + window.location.pathname;
const subscriptionUrl = url.replace(/^http/, 'ws');

const fetcher = createGraphiQLFetcher({ url, subscriptionUrl });

// Comment lines stay within 50 columns, to fit the editor beside the result pane.
const keyHint = apiKey
  ? '# The server filled in x-api-key there, as this\n' +
    '# page was opened on a loopback address.'
  : '# Put your API key there: {"x-api-key": "..."}\n' +
    '# (the server fills it in on loopback only).';

const subscription = typeof config.subscription === 'string' ? config.subscription : '';
const mutation = typeof config.mutation === 'string' ? config.mutation : '';
const commented = (text) =>
  text
    .trimEnd()
    .split('\n')
    .map((line) => `# ${line}`)
    .join('\n');

const defaultQuery = subscription
  ? `# Switchboard. Subscriptions run over
# graphql-transport-ws, queries and mutations over
# HTTP POST. The Headers tab's JSON goes as HTTP
# headers and as connection_init's payload.
${keyHint}
#
# Run the subscription (the play button or
# Ctrl-Enter), then run the mutation at the end in
# a new tab (+), with curl, or \`switchboard
# publish --query\`. Each event appears in the
# result pane as it arrives.

${subscription}${mutation ? `\n${commented(mutation)}\n` : ''}`
  : `# Switchboard. This schema has no subscriptions;
# queries and mutations run over HTTP POST.
${keyHint}

{ __typename }
`;

const headers = JSON.stringify({ 'x-api-key': apiKey }, null, 2);

createRoot(document.getElementById('graphiql')).render(
  React.createElement(GraphiQL, {
    fetcher,
    defaultQuery,
    // The key is the server's to give: always start from it, never from a stored one.
    headers,
    shouldPersistHeaders: false,
    defaultEditorToolsVisibility: 'headers',
  }),
);
