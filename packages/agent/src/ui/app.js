// Vigil's dashboard: the agent's member list, routing tables and catalog instances, kept current
// from the event stream (GET /v1/events) without reloading. Every name shown comes from the
// network, so the DOM is built with textContent only, never from HTML strings.

const MAX_EVENTS = 200;
const STATUS_ORDER = { dead: 0, suspect: 1, left: 2, alive: 3 };
const STATUS_CLASS = { alive: 'ok', suspect: 'warn', dead: 'bad', left: 'muted' };
const HEALTH_CLASS = { passing: 'ok', warning: 'warn', critical: 'bad' };

const state = {
  agent: '',
  members: new Map(),
  tables: new Map(),
  instances: [],
  events: [],
  /** While a full load runs, events wait here and apply after it if they are newer. */
  pending: undefined,
};

/** An element with attributes and children; strings become text nodes. */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    node.append(
      typeof child === 'string' || typeof child === 'number' ? document.createTextNode(String(child)) : child,
    );
  }
  return node;
}

/** A coloured word: the colour never stands alone. */
function badge(text, cls) {
  return el('span', { class: `badge ${cls}` }, text);
}

async function getJson(path) {
  const res = await fetch(path, { headers: { accept: 'application/json' } });
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
  return { body: await res.json(), index: Number(res.headers.get('x-vigil-index') ?? 0) };
}

function redundancyK(redundancy) {
  const m = /^N([+-]\d+)$/.exec(redundancy ?? '');
  return m ? Number(m[1]) : Number.NaN;
}

function zoneOf(member) {
  return member.tags?.['vigil:zone'] ?? '';
}

async function loadAll() {
  state.pending = [];
  try {
    const [self, members, routes, instances] = await Promise.all([
      getJson('/v1/agent/self'),
      getJson('/v1/members'),
      getJson('/v1/routes'),
      getJson('/v1/catalog/instances'),
    ]);
    state.agent = self.body?.Config?.NodeName ?? '';
    state.members = new Map(members.body.map((m) => [m.name, m]));
    state.tables = new Map(routes.body.tables.map((t) => [t.service, t]));
    state.instances = instances.body;
    const loadedAt = Math.min(members.index, routes.body.index);
    const queued = state.pending;
    state.pending = undefined;
    for (const e of queued) if (e.index > loadedAt) apply(e);
    render();
  } catch (err) {
    // The agent is starting (503 until its catalog is in sync) or gone: try again shortly.
    state.pending = undefined;
    setConnection(`waiting: ${err.message}`, 'warn');
    setTimeout(loadAll, 1000);
  }
}

let instancesQueued = false;
function reloadInstances() {
  if (instancesQueued) return;
  instancesQueued = true;
  setTimeout(async () => {
    instancesQueued = false;
    try {
      state.instances = (await getJson('/v1/catalog/instances')).body;
      render();
    } catch {
      reloadInstances();
    }
  }, 200);
}

/** One event from the stream into the state, and a line in the log. */
function apply(e) {
  const d = e.data;
  if (e.type === 'member') {
    if (d.change === 'reap') state.members.delete(d.member.name);
    else state.members.set(d.member.name, d.member);
    const conf = d.member.confirmations ? ` (${plural(d.member.confirmations, 'confirmation')})` : '';
    log(e, `member ${d.member.name}: ${d.change}, now ${d.member.status}${conf}`);
  } else if (e.type === 'route') {
    if (d.table) state.tables.set(d.service, d.table);
    else state.tables.delete(d.service);
    log(
      e,
      `route ${d.service}: ${d.change}${d.table ? `, ${d.table.redundancy}${d.table.panic ? ', panic' : ''}` : ''}`,
    );
  } else if (e.type === 'catalog') {
    reloadInstances();
    log(e, `catalog: record ${d.seq} from ${d.node}`);
  }
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function log(e, text) {
  state.events.unshift({ index: e.index, at: new Date(), text });
  if (state.events.length > MAX_EVENTS) state.events.length = MAX_EVENTS;
}

function onEvent(type) {
  return (message) => {
    const e = { type, index: Number(message.lastEventId), data: JSON.parse(message.data) };
    if (state.pending) state.pending.push(e);
    else {
      apply(e);
      scheduleRender();
    }
  };
}

function connect() {
  const source = new EventSource('/v1/events');
  source.addEventListener('hello', () => loadAll());
  source.addEventListener('resync', () => loadAll());
  for (const type of ['member', 'route', 'catalog']) source.addEventListener(type, onEvent(type));
  source.addEventListener('open', () => setConnection('live', 'ok'));
  source.addEventListener('error', () => setConnection('reconnecting', 'warn'));
}

function setConnection(text, cls) {
  const node = document.getElementById('connection');
  node.textContent = text;
  node.className = `badge ${cls}`;
}

let renderQueued = false;
function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    render();
  });
}

function render() {
  document.getElementById('agent').textContent = state.agent ? `· ${state.agent}` : '';
  renderProblems();
  renderMembers();
  renderServices();
  renderEvents();
}

function problems() {
  const list = [];
  for (const m of state.members.values()) {
    if (m.status === 'dead') list.push(['bad', 'dead', `member ${m.name} is dead (failed)`]);
    else if (m.status === 'suspect') {
      list.push(['warn', 'suspect', `member ${m.name} is suspect (${plural(m.confirmations ?? 0, 'confirmation')})`]);
    }
  }
  for (const t of state.tables.values()) {
    const k = redundancyK(t.redundancy);
    if (k < 0) list.push(['bad', t.redundancy, `service ${t.service} has no healthy instance`]);
    else if (k === 0) list.push(['warn', 'N+0', `service ${t.service} is at N+0: one more failure is an outage`]);
    if (t.panic) list.push(['warn', 'panic', `service ${t.service} is in panic mode`]);
  }
  for (const i of state.instances) {
    if (i.maintenance)
      list.push(['muted', 'maintenance', `instance ${i.id} of ${i.service} on ${i.node} is in maintenance`]);
    else if (i.health !== 'passing') {
      list.push([
        HEALTH_CLASS[i.health] ?? 'bad',
        i.health,
        `instance ${i.id} of ${i.service} on ${i.node} is ${i.health}`,
      ]);
    }
  }
  const rank = { bad: 0, warn: 1, muted: 2 };
  return list.sort((a, b) => rank[a[0]] - rank[b[0]] || a[2].localeCompare(b[2]));
}

function renderProblems() {
  const list = problems();
  const items = list.map(([cls, word, text]) => el('li', {}, badge(word, cls), ' ', text));
  document
    .getElementById('problems')
    .replaceChildren(
      ...(items.length > 0
        ? items
        : [el('li', { class: 'none' }, 'No problems: every member alive, every service N+1 or better')]),
    );
}

function renderMembers() {
  const members = [...state.members.values()].sort(
    (a, b) => (STATUS_ORDER[a.status] ?? 9) - (STATUS_ORDER[b.status] ?? 9) || a.name.localeCompare(b.name),
  );
  const rows = members.map((m) =>
    el(
      'tr',
      { 'data-member': m.name },
      el('td', {}, m.name, m.name === state.agent ? el('span', { class: 'muted' }, ' (this agent)') : undefined),
      el('td', { class: 'status' }, badge(m.status, STATUS_CLASS[m.status] ?? 'unknown')),
      el('td', {}, zoneOf(m)),
      el('td', {}, `${m.addr}:${m.port}`),
      el('td', { class: 'num' }, m.incarnation),
      el(
        'td',
        { class: 'num' },
        m.status === 'suspect' ? `${m.confirmations ?? 0}${m.confirmedSuspect ? ' (confirmed)' : ''}` : '',
      ),
      el('td', {}, el('button', { type: 'button', onclick: () => explain(m.name) }, 'explain')),
    ),
  );
  document.querySelector('#members tbody').replaceChildren(...rows);
}

async function explain(name) {
  const box = document.getElementById('explain');
  box.hidden = false;
  document.getElementById('explain-h').textContent = `Verdicts on ${name}`;
  const body = document.getElementById('explain-body');
  try {
    const { body: data } = await getJson(`/v1/members/${encodeURIComponent(name)}`);
    body.textContent = explainText(data);
  } catch (err) {
    body.textContent = err.message;
  }
}

function explainText(data) {
  const lines = [`${data.member.name}: ${data.member.status}, incarnation ${data.member.incarnation}`];
  if (!data.history?.length) lines.push('no suspicion recorded since this agent started');
  for (const h of data.history ?? []) {
    lines.push('');
    lines.push(`suspected at ${new Date(h.suspectedAt).toISOString()} (incarnation ${h.incarnation})`);
    lines.push(
      `  accused by ${h.accuser ?? 'unknown'}${h.accuserHealth === undefined ? '' : `, health score ${h.accuserHealth}`}`,
    );
    if (h.paths?.length) lines.push(`  failed probes: ${h.paths.map((p) => `${p.path} by ${p.by}`).join(', ')}`);
    for (const c of h.confirmations ?? []) {
      const after = c.paths?.length ? ` after ${c.paths.map((p) => `${p.path} by ${p.by}`).join(', ')}` : '';
      lines.push(`  confirmed by ${c.by} at ${new Date(c.at).toISOString()}${after}`);
    }
    lines.push(`  ended: ${h.end ? `${h.end.how} at ${new Date(h.end.at).toISOString()}` : 'still suspect'}`);
  }
  return lines.join('\n');
}

function renderServices() {
  const names = new Set([...state.tables.keys(), ...state.instances.map((i) => i.service)]);
  const services = [...names].sort((a, b) => {
    const ka = redundancyK(state.tables.get(a)?.redundancy);
    const kb = redundancyK(state.tables.get(b)?.redundancy);
    return (Number.isNaN(ka) ? -2 : ka) - (Number.isNaN(kb) ? -2 : kb) || a.localeCompare(b);
  });
  document.getElementById('services').replaceChildren(...services.map(renderService));
}

function renderService(name) {
  const table = state.tables.get(name);
  const k = redundancyK(table?.redundancy);
  const redundancy = table
    ? badge(table.redundancy, k < 0 ? 'bad' : k === 0 ? 'warn' : 'ok')
    : badge('not routed', 'bad');
  const endpoints = table?.endpoints ?? [];
  const routed = new Set(endpoints.map((e) => `${e.node}\u0000${e.id}`));
  const rows = endpoints.map((e) =>
    el(
      'tr',
      { 'data-instance': e.id },
      el('td', {}, e.node),
      el('td', {}, e.id, tagList(e.tags)),
      el('td', {}, `${e.address}:${e.port}`),
      el('td', { class: 'num' }, e.tier),
      el('td', {}, e.zone),
      el('td', { class: 'health' }, badge(e.health, HEALTH_CLASS[e.health] ?? 'unknown')),
      el(
        'td',
        { class: 'state' },
        badge(e.state, e.state === 'active' ? 'ok' : e.state === 'demoted' ? 'warn' : 'muted'),
      ),
      el('td', { class: 'num' }, `${(e.share * 100).toFixed(1)} %`),
      el('td', {}, 'no'),
    ),
  );
  // Instances the catalog holds but routing left out: maintenance, or their node is down.
  for (const i of state.instances) {
    if (i.service !== name || routed.has(`${i.node}\u0000${i.id}`)) continue;
    const node = state.members.get(i.node);
    const why = i.maintenance
      ? 'maintenance'
      : node && node.status !== 'alive'
        ? `node ${node.status}`
        : i.health === 'critical'
          ? 'unhealthy'
          : 'not routed';
    rows.push(
      el(
        'tr',
        { 'data-instance': i.id },
        el('td', {}, i.node),
        el('td', {}, i.id, tagList(i.tags)),
        el('td', {}, `${i.address}:${i.port}`),
        el('td', { class: 'num' }, i.priority),
        el('td', {}, i.zone),
        el('td', { class: 'health' }, badge(i.health, HEALTH_CLASS[i.health] ?? 'unknown')),
        el('td', { class: 'state' }, badge(why, 'bad')),
        el('td', { class: 'num' }, '0.0 %'),
        el('td', {}, i.maintenance ? badge('maintenance', 'warn') : 'no'),
      ),
    );
  }
  return el(
    'div',
    { class: 'service', 'data-service': name },
    el(
      'h3',
      {},
      name,
      redundancy,
      table ? el('span', { class: 'muted' }, ` ${table.policy}`) : undefined,
      table?.panic ? badge('panic', 'warn') : undefined,
    ),
    el(
      'table',
      {},
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          ...['Node', 'Instance', 'Address', 'Tier', 'Zone', 'Health', 'State', 'Share', 'Maintenance'].map((h) =>
            el('th', {}, h),
          ),
        ),
      ),
      el('tbody', {}, ...rows),
    ),
  );
}

function tagList(tags) {
  return tags?.length ? el('span', { class: 'muted' }, ` ${tags.join(', ')}`) : undefined;
}

function renderEvents() {
  const items = state.events.map((e) => el('li', { value: e.index }, `${e.at.toLocaleTimeString()}  ${e.text}`));
  document.getElementById('events').replaceChildren(...items);
}

connect();
