// Switchboard's live status page (served at `/`, embedded in the binary).
//
// Plain JavaScript, no dependencies: it speaks graphql-transport-ws itself over
// `new WebSocket(url, 'graphql-transport-ws')` to this server's `/graphql` and subscribes to
// `onStatusUpdate(userId)` from the user's stream: the first time with `extensions.replay` (the
// statuses the server keeps, then the live ones), after a reconnection with `extensions.resume`
// and the position of the last status it showed (exactly what it missed, then the live ones).
// Should the server no longer have that position (`recovered: false`), it sends what it keeps,
// and every status is kept once, by its identity (all its fields). On close it reconnects with
// backoff.
//
// Query parameters prefill the form and connect at once: `?userId=u1&apiKey=da2-…` (API key, sent
// as `x-api-key`) or `?userId=u1&token=…` (sent as `Authorization`).
'use strict';

(() => {
  const FIELDS = 'jobId userId agentName status message timestamp';
  const SUBSCRIPTION =
    `subscription OnStatusUpdate($userId: ID!) { onStatusUpdate(userId: $userId) { ${FIELDS} } }`;
  // The server keeps 100 statuses per user by default (`--history-per-topic`) and replays at most
  // 100 (`--replay-max`).
  const HISTORY_LIMIT = 100;
  const SUBSCRIPTION_ID = 'status';
  // Reconnection delays, each with ±20% jitter; the last repeats. Reset once a connection is acked.
  const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];
  const ACK_TIMEOUT_MS = 10000;
  // An application-level ping this often; no pong by the next one and the connection is dropped.
  const HEARTBEAT_MS = 15000;
  // The server closes with 4403 for a credential it refuses; retrying would not help (and could
  // trip its failed-authentication lockout).
  const FORBIDDEN = 4403;

  const $ = (id) => document.getElementById(id);
  const ui = {
    form: $('settings'),
    userId: $('userId'),
    authMode: $('authMode'),
    credential: $('credential'),
    credentialLabel: $('credentialLabel'),
    connection: $('connection'),
    notice: $('notice'),
    jobs: $('jobs'),
  };

  const state = {
    settings: null, // { userId, authMode: 'apiKey' | 'token', credential }
    session: 0, // bumped by every Connect: answers for an older session are ignored
    socket: null, // the current WebSocket; handlers of any other one do nothing
    attempt: 0,
    retryTimer: null,
    ackTimer: null,
    heartbeat: null,
    awaitingPong: false,
    awaitingLive: false, // subscribed, waiting for the pong that proves the subscription is filed
    position: null, // { epoch, offset } of the last status received, to resume from
    jobs: new Map(), // jobId -> { jobId, statuses: [...], ids: Set }
    seq: 0,
    renderQueued: false,
  };

  // ---- connection -------------------------------------------------------------------------

  function wsUrl() {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    return `${scheme}//${location.host}/graphql`;
  }

  function authPayload(settings) {
    return settings.authMode === 'token'
      ? { Authorization: settings.credential }
      : { 'x-api-key': settings.credential };
  }

  function start(settings) {
    state.session += 1;
    state.settings = settings;
    state.attempt = 0;
    abandon(state.socket);
    clearTimeout(state.retryTimer);
    state.retryTimer = null;
    state.jobs = new Map();
    state.position = null;
    showNotice(null);
    render();
    connect();
  }

  function connect() {
    state.retryTimer = null;
    const settings = state.settings;
    setConnection(state.attempt === 0 ? 'connecting' : 'reconnecting',
      state.attempt === 0 ? 'connecting…' : 'reconnecting…');
    let ws;
    try {
      ws = new WebSocket(wsUrl(), 'graphql-transport-ws');
    } catch (error) {
      showNotice(`Cannot open a WebSocket: ${error.message}`);
      scheduleReconnect();
      return;
    }
    state.socket = ws;
    ws.onopen = () => {
      if (ws !== state.socket) return;
      send(ws, { type: 'connection_init', payload: authPayload(settings) });
      state.ackTimer = setTimeout(() => {
        if (ws === state.socket) drop(ws, 'no connection_ack in time');
      }, ACK_TIMEOUT_MS);
    };
    ws.onmessage = (event) => {
      if (ws !== state.socket) return;
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      onMessage(ws, message);
    };
    ws.onclose = (event) => {
      if (ws !== state.socket) return;
      clearConnectionTimers();
      state.socket = null;
      if (event.code === FORBIDDEN) {
        setConnection('failed', 'rejected');
        showNotice(`The server refused the credential (${event.code} ${event.reason || 'Forbidden'}).`);
        return;
      }
      scheduleReconnect();
    };
  }

  function onMessage(ws, message) {
    switch (message.type) {
      case 'connection_ack':
        clearTimeout(state.ackTimer);
        state.ackTimer = null;
        state.attempt = 0;
        subscribe(ws);
        // The server files a subscription before it reads the next frame, so the pong to this
        // ping means the subscription is live.
        state.awaitingLive = true;
        ping(ws);
        state.heartbeat = setInterval(() => {
          if (state.awaitingPong) {
            drop(ws, 'no pong in time');
          } else {
            ping(ws);
          }
        }, HEARTBEAT_MS);
        break;
      case 'pong':
        state.awaitingPong = false;
        if (state.awaitingLive) {
          state.awaitingLive = false;
          setConnection('live', 'live');
        }
        break;
      case 'ping':
        send(ws, { type: 'pong' });
        break;
      case 'next': {
        if (message.id !== SUBSCRIPTION_ID) break;
        const payload = message.payload || {};
        const stream = payload.extensions && payload.extensions.stream;
        if (payload.errors) showErrors(payload.errors);
        if (payload.data && payload.data.onStatusUpdate) {
          merge([payload.data.onStatusUpdate]);
          if (stream) state.position = { epoch: stream.epoch, offset: stream.offset };
        } else if (stream && stream.wasRecovering && !stream.recovered) {
          // The server no longer has our position: what it keeps follows, merged by identity.
          state.position = null;
        }
        break;
      }
      case 'error':
        if (message.id === SUBSCRIPTION_ID && streamReset(message.payload)) {
          // The stream lost events under us: start again from what the server keeps.
          state.position = null;
          subscribe(ws);
          break;
        }
        showErrors(message.payload);
        break;
      case 'complete':
        showNotice('The server ended the subscription.');
        break;
      default:
        break;
    }
  }

  // Subscribes from the last position received, or (the first time, or when it was lost) with
  // what the server keeps.
  function subscribe(ws) {
    const extensions = state.position
      ? { resume: state.position }
      : { replay: { last: HISTORY_LIMIT } };
    send(ws, {
      id: SUBSCRIPTION_ID,
      type: 'subscribe',
      payload: { query: SUBSCRIPTION, variables: { userId: state.settings.userId }, extensions },
    });
  }

  function streamReset(errors) {
    return Array.isArray(errors) &&
      errors.some((e) => e && e.extensions && e.extensions.errorType === 'StreamReset');
  }

  function send(ws, message) {
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
  }

  function ping(ws) {
    state.awaitingPong = true;
    send(ws, { type: 'ping' });
  }

  function clearConnectionTimers() {
    clearTimeout(state.ackTimer);
    clearInterval(state.heartbeat);
    state.ackTimer = null;
    state.heartbeat = null;
    state.awaitingPong = false;
    state.awaitingLive = false;
  }

  // Forgets a socket without waiting for its close handshake (a dead link may never finish it).
  function abandon(ws) {
    if (!ws) return;
    if (ws === state.socket) {
      clearConnectionTimers();
      state.socket = null;
    }
    try {
      ws.close(1000);
    } catch {
      // already closed
    }
  }

  function drop(ws, reason) {
    abandon(ws);
    showNotice(`Connection lost (${reason}); reconnecting.`);
    scheduleReconnect();
  }

  function scheduleReconnect() {
    if (state.retryTimer || !state.settings) return;
    const base = BACKOFF_MS[Math.min(state.attempt, BACKOFF_MS.length - 1)];
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    state.attempt += 1;
    setConnection('reconnecting', `reconnecting in ${(delay / 1000).toFixed(1)} s`);
    state.retryTimer = setTimeout(connect, delay);
  }

  // Back online: try now rather than at the end of the backoff.
  window.addEventListener('online', () => {
    if (state.retryTimer) {
      clearTimeout(state.retryTimer);
      connect();
    }
  });

  // ---- the jobs ---------------------------------------------------------------------------

  function identity(status) {
    return JSON.stringify([status.jobId, status.status, status.timestamp, status.agentName ?? null,
      status.message ?? null]);
  }

  function merge(statuses) {
    let changed = false;
    for (const status of statuses) {
      if (!status || status.userId !== state.settings.userId) continue;
      let job = state.jobs.get(status.jobId);
      if (!job) {
        job = { jobId: status.jobId, statuses: [], ids: new Set() };
        state.jobs.set(status.jobId, job);
      }
      const id = identity(status);
      if (job.ids.has(id)) continue;
      job.ids.add(id);
      job.statuses.push({ ...status, seq: ++state.seq, at: Date.parse(status.timestamp) });
      changed = true;
    }
    if (!changed) return;
    for (const job of state.jobs.values()) {
      job.statuses.sort((a, b) => (a.at - b.at) || (a.seq - b.seq));
    }
    if (!state.renderQueued) {
      state.renderQueued = true;
      setTimeout(render, 0);
    }
  }

  function outcome(status) {
    if (status === 'complete') return 'complete';
    if (status === 'error') return 'error';
    return 'running';
  }

  function render() {
    state.renderQueued = false;
    const jobs = [...state.jobs.values()].sort((a, b) =>
      (b.statuses[0].at - a.statuses[0].at) || (a.jobId < b.jobId ? -1 : 1));
    const cards = jobs.map(card);
    if (cards.length === 0) {
      const empty = node('p', 'empty', state.settings
        ? `No statuses yet for ${state.settings.userId}; they appear here as they are published.`
        : 'Enter a userId and a credential to watch that user\'s jobs.');
      ui.jobs.replaceChildren(empty);
    } else {
      ui.jobs.replaceChildren(...cards);
    }
  }

  function card(job) {
    const latest = job.statuses[job.statuses.length - 1];
    const kind = outcome(latest.status);
    const article = node('article', `job ${kind}`);
    article.dataset.jobId = job.jobId;

    const head = node('div', 'job-head');
    const title = node('div');
    title.append(node('h2', null, job.jobId));
    const elapsed = latest.at - job.statuses[0].at;
    const steps = job.statuses.length === 1 ? '1 step' : `${job.statuses.length} steps`;
    title.append(node('div', 'job-meta',
      `${steps} · started ${clock(job.statuses[0].at)} · ${duration(elapsed)}`));
    const badge = node('span', `badge ${kind}`, latest.status);
    badge.title = `current state: ${latest.status}`;
    head.append(title, badge);

    const bar = timeBar(job.statuses, elapsed);

    const table = node('table', 'timeline');
    const header = node('tr');
    for (const name of ['time', 'since previous', 'status', 'agent', 'message']) {
      header.append(node('th', null, name));
    }
    const thead = node('thead');
    thead.append(header);
    table.append(thead);
    const body = node('tbody');
    job.statuses.forEach((status, i) => {
      const row = node('tr', `step ${outcome(status.status)}`);
      row.dataset.status = status.status;
      const time = node('time', null, clock(status.at));
      time.dateTime = status.timestamp;
      time.title = status.timestamp;
      const cell = node('td', 'time');
      cell.append(time);
      row.append(
        cell,
        node('td', 'duration', i === 0 ? '—' : `+${duration(status.at - job.statuses[i - 1].at)}`),
        node('td', 'status', status.status),
        node('td', 'agent', status.agentName || ''),
        node('td', 'message', status.message || ''),
      );
      body.append(row);
    });
    table.append(body);
    article.append(head);
    if (bar) article.append(bar);
    article.append(table);
    return article;
  }

  // Each step's share of the job's time so far, as one bar: where a person would rather look
  // than read. A step lasts until the next one; the last has no length yet.
  function timeBar(statuses, total) {
    if (statuses.length < 2 || total <= 0) return null;
    const bar = node('div', 'timebar');
    bar.setAttribute('role', 'img');
    const parts = [];
    for (let i = 0; i + 1 < statuses.length; i += 1) {
      const length = statuses[i + 1].at - statuses[i].at;
      const share = (100 * length) / total;
      const segment = node('span', `segment ${i % 2 ? 'odd' : 'even'}`);
      segment.style.width = `${share}%`;
      segment.title = `${statuses[i].status}: ${duration(length)} (${Math.round(share)}%)`;
      segment.dataset.status = statuses[i].status;
      bar.append(segment);
      parts.push(segment.title);
    }
    bar.setAttribute('aria-label', `time per step: ${parts.join(', ')}`);
    return bar;
  }

  function node(tag, className, text) {
    const element = document.createElement(tag);
    if (className) element.className = className;
    if (text !== undefined) element.textContent = text;
    return element;
  }

  // Local wall-clock time with milliseconds: 14:03:07.215.
  function clock(ms) {
    if (Number.isNaN(ms)) return '?';
    const d = new Date(ms);
    const two = (n) => String(n).padStart(2, '0');
    return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
  }

  function duration(ms) {
    if (Number.isNaN(ms)) return '?';
    if (ms < 1000) return `${ms} ms`;
    if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
    const s = Math.round(ms / 1000);
    if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
    return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  }

  // ---- the page ---------------------------------------------------------------------------

  function setConnection(kind, text) {
    ui.connection.className = `connection ${kind}`;
    ui.connection.dataset.state = kind;
    ui.connection.textContent = text;
  }

  function showNotice(text) {
    ui.notice.hidden = !text;
    ui.notice.textContent = text || '';
  }

  function showErrors(errors) {
    const list = Array.isArray(errors) ? errors : [errors];
    showNotice(list.map((e) => (e && e.message) || JSON.stringify(e)).join('; '));
  }

  function syncCredentialLabel() {
    const token = ui.authMode.value === 'token';
    ui.credentialLabel.textContent = token ? 'token' : 'API key';
    ui.credential.placeholder = token ? 'eyJ…' : 'da2-…';
  }

  ui.authMode.addEventListener('change', syncCredentialLabel);
  ui.form.addEventListener('submit', (event) => {
    event.preventDefault();
    const userId = ui.userId.value.trim();
    const credential = ui.credential.value.trim();
    if (!userId || !credential) {
      showNotice('Both a userId and a credential are needed.');
      return;
    }
    const url = new URL(location.href);
    url.searchParams.set('userId', userId);
    history.replaceState(null, '', url);
    start({ userId, authMode: ui.authMode.value, credential });
  });

  const params = new URLSearchParams(location.search);
  ui.userId.value = params.get('userId') || '';
  if (params.get('token')) {
    ui.authMode.value = 'token';
    ui.credential.value = params.get('token');
  } else {
    ui.credential.value = params.get('apiKey') || '';
  }
  syncCredentialLabel();
  if (ui.userId.value && ui.credential.value) ui.form.requestSubmit();
})();
