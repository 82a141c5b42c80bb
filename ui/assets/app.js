// The status page of a watching pets: a view of its events. The server
// sends a snapshot, then one update per event, the service list after a
// reload, and new log lines (at most a window per service, with how many
// were skipped). Everything shown is set with textContent: log lines and
// errors are the services' output, never markup.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const st = {
    services: new Map(), // name -> service
    order: [],
    rounds: new Map(), // n -> round
    reload: null,
    watch: {},
    root: '', // the Petsfile's directory
    petsfile: '',
    window: 1000,
    logs: new Map(), // name -> {entries: [{s, t} | {s, gap}], skipped, seq}
    selected: '',
    filter: '',
  };
  // What the page measured: lag of each update (event time to arrival).
  const lag = [];
  // lines and skipped count, per service, the log lines received and those
  // the server said it skipped.
  const info = { lag, snapshots: 0, updates: 0, logBatches: 0, lines: {}, skipped: {}, errors: [] };
  window.petsUI = info;
  // Script errors and what the Content-Security-Policy refused (the tests
  // look).
  window.addEventListener('error', (e) => info.errors.push(String(e.message)));
  document.addEventListener('securitypolicyviolation', (e) => info.errors.push('CSP: ' + e.violatedDirective + ' ' + e.blockedURI));

  const MAX_ROUNDS = 20; // as the server keeps
  const dirty = new Set();
  let scheduled = false;
  function touch(...what) {
    for (const w of what) dirty.add(w);
    if (!scheduled) {
      scheduled = true;
      setTimeout(render, 16);
    }
  }

  // ---- the stream ----
  const conn = $('conn');
  function setConn(state, text) {
    conn.dataset.state = state;
    conn.textContent = text;
  }
  const es = new EventSource('/events');
  es.onopen = () => setConn('live', 'live');
  es.onerror = () => {
    if (es.readyState === EventSource.CLOSED) {
      setConn('gone', 'disconnected: pets stopped, or this address is not valid any more (pets ui prints it)');
    } else if (!st.watch.stopped) {
      setConn('lost', 'reconnecting…');
    }
  };
  es.addEventListener('snapshot', (m) => {
    const s = JSON.parse(m.data);
    info.snapshots++;
    st.window = s.window || 1000;
    st.petsfile = s.petsfile || '';
    st.root = st.petsfile.replace(/[\\/][^\\/]*$/, '');
    setServices(s.services || []);
    st.rounds = new Map();
    for (const r of s.rounds || []) st.rounds.set(r.n, r);
    st.reload = s.reload || null;
    st.watch = s.watch || {};
    st.logs = new Map();
    for (const [name, part] of Object.entries(s.logs || {})) addLines(name, part.lines || [], part.skipped || 0, true);
    touch('structure', 'services', 'rounds', 'reload', 'watch', 'logFull');
  });
  es.addEventListener('update', (m) => {
    const u = JSON.parse(m.data);
    info.updates++;
    lag.push({ type: u.type, ms: Date.now() - u.t });
    if (lag.length > 5000) lag.splice(0, lag.length - 5000);
    if (u.service) {
      const had = st.services.get(u.service.name);
      st.services.set(u.service.name, u.service);
      if (!had) {
        st.order.push(u.service.name);
        touch('structure');
      }
      touch('services');
    }
    if (u.round) {
      st.rounds.set(u.round.n, u.round);
      if (st.rounds.size > MAX_ROUNDS) st.rounds.delete(Math.min(...st.rounds.keys()));
      touch('rounds');
    }
    if (u.reload) {
      st.reload = u.reload;
      touch('reload');
    }
    if (u.watch) {
      st.watch = u.watch;
      touch('watch');
    }
  });
  es.addEventListener('services', (m) => {
    setServices(JSON.parse(m.data).services || []);
    touch('structure', 'services');
  });
  es.addEventListener('logs', (m) => {
    info.logBatches++;
    for (const [name, part] of Object.entries(JSON.parse(m.data))) addLines(name, part.lines || [], part.skipped || 0, false);
  });

  function setServices(list) {
    st.services = new Map(list.map((s) => [s.name, s]));
    st.order = list.map((s) => s.name);
    for (const name of st.logs.keys()) if (!st.services.has(name)) st.logs.delete(name);
  }

  function addLines(name, lines, skipped, initial) {
    let l = st.logs.get(name);
    if (!l) {
      l = { entries: [], lines: 0, skipped: 0, seq: 0 };
      st.logs.set(name, l);
    }
    l.skipped += skipped;
    info.lines[name] = (info.lines[name] || 0) + lines.length;
    if (!initial) info.skipped[name] = (info.skipped[name] || 0) + skipped;
    if (skipped > 0 && !initial) l.entries.push({ s: ++l.seq, gap: skipped });
    for (const t of lines) l.entries.push({ s: ++l.seq, t });
    l.lines += lines.length;
    // The window: at most st.window lines (and the gaps between them).
    let drop = 0;
    for (; l.lines > st.window; drop++) if (l.entries[drop].gap === undefined) l.lines--;
    if (drop) l.entries.splice(0, drop);
    if (name === selected()) touch('log');
    touch('tabs');
  }

  // ---- formatting ----
  function took(ms) {
    if (ms === undefined || ms === null) return '';
    if (ms < 1000) return Math.round(ms) + 'ms';
    if (ms < 60000) return (ms / 1000).toFixed(1) + 's';
    return Math.floor(ms / 60000) + 'm' + Math.round((ms % 60000) / 1000) + 's';
  }
  function short(p) {
    for (const r of [st.root, ...(st.watch.roots || [])]) {
      if (r && p.startsWith(r + '/')) return p.slice(r.length + 1);
    }
    return p;
  }
  function files(list, more) {
    if (!list || !list.length) return '';
    const n = list.length + (more || 0);
    if (n <= 3) return list.map(short).join(', ');
    return list.slice(0, 2).map(short).join(', ') + ' and ' + (n - 2) + ' more files';
  }
  function count(n, what) {
    return n === 1 ? '1 ' + what : n.toLocaleString('en-US') + ' ' + what + 's';
  }
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function setText(e, text) {
    if (e.textContent !== text) e.textContent = text;
  }

  // ---- services ----
  const tbody = document.querySelector('#services tbody');
  function renderServices() {
    const rows = new Map();
    for (const tr of tbody.querySelectorAll('tr[data-service]')) rows.set(tr.dataset.service, tr);
    let i = 0;
    for (const name of st.order) {
      const s = st.services.get(name);
      let tr = rows.get(name);
      if (!tr) tr = newRow(name);
      rows.delete(name);
      if (tbody.children[i] !== tr) tbody.insertBefore(tr, tbody.children[i] || null);
      i++;
      fillRow(tr, s);
    }
    for (const tr of rows.values()) tr.remove();
  }
  function newRow(name) {
    const tr = el('tr');
    tr.dataset.service = name;
    for (const c of ['name', 'tier', 'state-cell', 'fresh-cell', 'host', 'ready', 'deps', 'actions']) tr.appendChild(el('td', c));
    tr.querySelector('.name').textContent = name;
    const state = el('span', 'state');
    const why = el('span', 'why');
    tr.querySelector('.state-cell').append(state, why);
    tr.querySelector('.fresh-cell').append(el('span', 'fresh'), el('span', 'why'));
    const b = el('button', 'restart', 'restart');
    b.type = 'button';
    b.dataset.service = name;
    b.title = 'restart ' + name + ' and bounce what depends on it (pets restart ' + name + ')';
    tr.querySelector('.actions').append(b, el('span', 'why restart-result'));
    return tr;
  }
  function fillRow(tr, s) {
    tr.classList.toggle('selected', s.name === selected());
    setText(tr.querySelector('.tier'), s.tier || '');
    const state = tr.querySelector('.state');
    const name = s.state || 'unknown';
    state.className = 'state state-' + name;
    state.dataset.state = name;
    setText(state, name);
    let why = s.reason || '';
    if (s.state === 'crashed' && s.exit) why = s.exit + (why ? '; ' + why : '');
    // A backoff's reason says when it restarts (the engine's words).
    setText(tr.querySelector('.state-cell .why'), why);
    tr.querySelector('.state-cell').title = s.error || '';
    const fresh = tr.querySelector('.fresh');
    const f = s.freshness || 'unknown';
    fresh.className = 'fresh fresh-' + f;
    fresh.dataset.freshness = f;
    setText(fresh, f === 'unknown' ? 'unknown' : f.toUpperCase());
    setText(tr.querySelector('.fresh-cell .why'), f === 'stale' ? files(s.files, s.moreFiles) : '');
    const host = tr.querySelector('.host');
    const a = host.querySelector('a');
    if (s.host) {
      const href = 'http://' + s.host + '/';
      if (!a || a.getAttribute('href') !== href) {
        const link = el('a', '', s.host);
        link.href = href;
        link.target = '_blank';
        link.rel = 'noopener noreferrer';
        host.replaceChildren(link);
      }
    } else if (host.firstChild) {
      host.replaceChildren();
    }
    const ready = tr.querySelector('.ready');
    setText(ready, s.readyMs ? took(s.readyMs) : '');
    ready.title = s.readyAt ? 'ready at ' + new Date(s.readyAt).toLocaleTimeString() : '';
    setText(tr.querySelector('.deps'), (s.deps || []).join(', '));
  }

  tbody.addEventListener('click', (ev) => {
    const b = ev.target.closest('button.restart');
    if (b) {
      restart(b);
      return;
    }
    if (ev.target.closest('a')) return;
    const tr = ev.target.closest('tr[data-service]');
    if (tr) select(tr.dataset.service);
  });

  async function restart(b) {
    const name = b.dataset.service;
    const out = b.parentElement.querySelector('.restart-result');
    b.disabled = true;
    setText(b, 'restarting…');
    setText(out, '');
    try {
      const r = await fetch('/api/restart', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ service: name }),
      });
      if (!r.ok) {
        let why = r.status + ' ' + r.statusText;
        try {
          why = (await r.json()).error || why;
        } catch (e) {
          why = (await r.text().catch(() => why)) || why;
        }
        setText(out, why);
      }
    } catch (e) {
      setText(out, String(e));
    } finally {
      b.disabled = false;
      setText(b, 'restart');
    }
  }

  // ---- graph: one column per depth, dependencies to the left ----
  const svg = $('graph');
  const NS = 'http://www.w3.org/2000/svg';
  function renderGraph() {
    const depth = new Map();
    const visiting = new Set();
    function d(name) {
      if (depth.has(name)) return depth.get(name);
      if (visiting.has(name)) return 0;
      visiting.add(name);
      let v = 0;
      for (const dep of (st.services.get(name) || {}).deps || []) {
        if (st.services.has(dep)) v = Math.max(v, d(dep) + 1);
      }
      visiting.delete(name);
      depth.set(name, v);
      return v;
    }
    const cols = [];
    for (const name of st.order) {
      const c = d(name);
      (cols[c] = cols[c] || []).push(name);
    }
    const W = 170, H = 30, GX = 60, GY = 12, P = 4;
    const pos = new Map();
    cols.forEach((names, c) => names.forEach((n, r) => pos.set(n, { x: P + c * (W + GX), y: P + r * (H + GY) })));
    const rows = Math.max(0, ...cols.map((c) => (c ? c.length : 0)));
    svg.replaceChildren();
    svg.style.height = rows ? rows * (H + GY) - GY + 2 * P + 'px' : '0';
    svg.setAttribute('viewBox', '0 0 ' + (cols.length * (W + GX) + 2 * P) + ' ' + (rows * (H + GY) + 2 * P));
    svg.setAttribute('preserveAspectRatio', 'xMinYMin meet');
    for (const name of st.order) {
      const to = pos.get(name);
      for (const dep of (st.services.get(name) || {}).deps || []) {
        const from = pos.get(dep);
        if (!from) continue;
        const x1 = from.x + W, y1 = from.y + H / 2, x2 = to.x, y2 = to.y + H / 2;
        const p = document.createElementNS(NS, 'path');
        p.setAttribute('class', 'edge');
        p.setAttribute('d', `M${x1},${y1} C${x1 + GX / 2},${y1} ${x2 - GX / 2},${y2} ${x2},${y2}`);
        p.dataset.from = dep;
        p.dataset.to = name;
        svg.appendChild(p);
      }
    }
    for (const name of st.order) {
      const { x, y } = pos.get(name);
      const g = document.createElementNS(NS, 'g');
      g.dataset.service = name;
      const r = document.createElementNS(NS, 'rect');
      r.setAttribute('x', x);
      r.setAttribute('y', y);
      r.setAttribute('width', W);
      r.setAttribute('height', H);
      const t = document.createElementNS(NS, 'text');
      t.setAttribute('x', x + 10);
      t.setAttribute('y', y + H / 2 + 4);
      t.textContent = name.length > 17 ? name.slice(0, 16) + '…' : name;
      const s = document.createElementNS(NS, 'text');
      s.setAttribute('class', 'node-state');
      s.setAttribute('x', x + W - 8);
      s.setAttribute('y', y + H / 2 + 4);
      s.setAttribute('text-anchor', 'end');
      const title = document.createElementNS(NS, 'title');
      g.append(title, r, t, s);
      g.addEventListener('click', () => select(name));
      svg.appendChild(g);
    }
    colorGraph();
  }
  function colorGraph() {
    for (const g of svg.querySelectorAll('g[data-service]')) {
      const s = st.services.get(g.dataset.service) || {};
      g.setAttribute('class', 'node state-' + (s.state || 'unknown') + (s.freshness === 'stale' ? ' stale' : ''));
      g.querySelector('title').textContent = g.dataset.service + ': ' + (s.state || 'unknown') + ', ' + (s.freshness || 'unknown');
      g.querySelector('.node-state').textContent = (s.state || '') + (s.freshness === 'stale' ? ' · stale' : '');
    }
  }

  // ---- rounds ----
  function stepText(s) {
    const verbs = { start: 'started', restart: 'restarted', bounce: 'bounced', stop: 'stopped', sync: 'synced' };
    if (!s.result) return s.kind + ' ' + s.service;
    if (s.result === 'skipped' || (s.result === 'interrupted' && !s.error)) return s.service + ' skipped (' + (s.skipped || s.result) + ')';
    if (s.result === 'interrupted') return s.service + ' interrupted';
    let t;
    if (s.result === 'failed' && s.buildFailed && s.kind !== 'start') t = s.service + ' build FAILED after ' + took(s.tookMs) + ', still running the previous version';
    else if (s.result === 'failed' && s.buildFailed) t = s.service + ' build FAILED after ' + took(s.tookMs);
    else if (s.result === 'failed') t = s.service + ' FAILED after ' + took(s.tookMs);
    else if (s.kind === 'sync') t = s.service + ' synced ' + syncWhat(s.sync) + ' in ' + took(s.tookMs);
    else t = s.service + ' ' + (verbs[s.kind] || s.kind) + ' in ' + took(s.tookMs);
    if (s.fallback) t += ' (instead of a sync: ' + s.fallback + ')';
    return t;
  }
  function syncWhat(info) {
    info = info || {};
    let t = count(info.files || 0, 'file') + ' (' + (info.deleted || 0) + ' deleted) into pods ' + (info.pods || []).join(', ');
    const seen = new Set();
    for (const r of info.ran || []) {
      if (seen.has(r)) continue;
      seen.add(r);
      t += r === 'restart' ? ', restarted the process' : ', ran "' + r + '"';
    }
    return t;
  }
  const roundsEl = $('rounds');
  function renderRounds() {
    const ns = [...st.rounds.keys()].sort((a, b) => b - a);
    $('no-rounds').hidden = ns.length > 0;
    const items = [];
    for (const n of ns) {
      const r = st.rounds.get(n);
      const li = el('li', 'round');
      li.dataset.round = n;
      li.dataset.done = r.finished ? 'true' : 'false';
      const head = el('div', 'round-head');
      head.append('round ' + n + ' ');
      let what = r.reason || '';
      const f = files(r.files, r.moreFiles);
      if (f) what = f + (r.reason && r.reason !== 'files changed' ? ' (' + r.reason + ')' : '');
      head.append(el('span', 'muted', what + (r.finished ? ' · ' + took(r.tookMs) + ' in all' : r.interrupted ? ' · interrupted' : ' · running…')));
      head.title = new Date(r.planned || r.finished).toLocaleTimeString();
      li.appendChild(head);
      const ul = el('ul', 'steps');
      for (const s of r.steps || []) {
        const step = el('li', 'step step-' + (s.result || 'planned'));
        step.dataset.service = s.service;
        step.dataset.kind = s.kind;
        if (s.result) step.dataset.result = s.result;
        step.append(stepText(s));
        if (s.reason) step.append(' ', el('span', 'why', '— ' + s.reason));
        if (s.error) step.appendChild(el('pre', 'err', s.error));
        ul.appendChild(step);
      }
      li.appendChild(ul);
      items.push(li);
    }
    roundsEl.replaceChildren(...items);
  }

  // ---- reload ----
  function renderReload() {
    const box = $('reload');
    const r = st.reload;
    if (!r) {
      box.className = 'muted';
      box.dataset.ok = '';
      box.replaceChildren('no reload yet');
      return;
    }
    box.className = '';
    box.dataset.ok = String(r.ok);
    const when = new Date(r.time).toLocaleTimeString();
    if (r.ok) {
      const x = r.reload || {};
      const parts = [['added', x.added], ['removed', x.removed], ['changed', x.changed]].map(([w, l]) => (l || []).length + ' ' + w + (l && l.length ? ' (' + l.join(', ') + ')' : ''));
      parts.push((x.unchanged || []).length + ' unchanged');
      box.replaceChildren(el('span', 'reload-ok', 'reloaded'), ' at ' + when + ' in ' + took(r.tookMs) + ': ' + parts.join(', '));
    } else {
      box.replaceChildren(
        el('span', 'reload-bad', (r.files || []).map(short).join(', ') + ' changed but does not evaluate'),
        ' (' + when + '); still running the previous configuration:',
        el('pre', 'err', r.error || ''),
      );
    }
  }

  function renderWatch() {
    const w = st.watch;
    const roots = (w.roots || []).map(short);
    const what = st.petsfile || '';
    setText($('watching'), what + (w.pid ? ' · watched by pid ' + w.pid + ' · ' + (roots.length === 1 ? '1 directory' : roots.length + ' directories') : ''));
    $('watching').title = (w.roots || []).join('\n');
    const p = $('problem');
    p.hidden = !w.problem;
    setText(p, w.problem || '');
    if (w.stopped) {
      // Its page goes with it: a new pets has a new address and token.
      es.close();
      setConn('gone', 'pets stopped watching (' + w.stopped + '); pets ui prints the address of the next one');
    }
  }

  // ---- logs ----
  const logEl = $('log');
  const filterEl = $('log-filter');
  let shownFor = ''; // the service and filter shown
  let shownSeq = 0; // the last entry shown
  let shownLines = 0;
  function selected() {
    if (st.selected && st.services.has(st.selected)) return st.selected;
    return st.order[0] || '';
  }
  function select(name) {
    st.selected = name;
    touch('services', 'tabs', 'logFull');
  }
  filterEl.addEventListener('input', () => {
    st.filter = filterEl.value;
    touch('logFull');
  });
  function renderTabs() {
    const tabs = $('log-tabs');
    const sel = selected();
    const have = [...tabs.children].map((b) => b.dataset.service).join('\n');
    if (have !== st.order.join('\n')) {
      tabs.replaceChildren(
        ...st.order.map((name) => {
          const b = el('button', 'log-tab', name);
          b.type = 'button';
          b.setAttribute('role', 'tab');
          b.dataset.service = name;
          b.addEventListener('click', () => select(name));
          return b;
        }),
      );
    }
    for (const b of tabs.children) b.setAttribute('aria-selected', String(b.dataset.service === sel));
  }
  function matches(e, f) {
    if (e.gap !== undefined) return !f;
    return !f || e.t.toLowerCase().includes(f);
  }
  function lineEl(e) {
    if (e.gap !== undefined) return el('div', 'gap', '… ' + count(e.gap, 'line') + ' skipped under load …');
    return el('div', 'line', e.t);
  }
  function renderLog(full) {
    const name = selected();
    const l = st.logs.get(name) || { entries: [], skipped: 0 };
    const f = st.filter.trim().toLowerCase();
    const key = name + '\n' + f;
    const atBottom = logEl.scrollTop + logEl.clientHeight >= logEl.scrollHeight - 4;
    const add = l.entries.filter((e) => e.s > shownSeq && matches(e, f));
    // A whole window of new lines (a flood) replaces what is shown at once.
    const rebuild = full || key !== shownFor || add.length >= st.window;
    const frag = document.createDocumentFragment();
    for (const e of rebuild ? l.entries.filter((e) => matches(e, f)) : add) frag.appendChild(lineEl(e));
    shownFor = key;
    if (l.entries.length) shownSeq = l.entries[l.entries.length - 1].s;
    if (rebuild) logEl.replaceChildren(frag);
    else logEl.appendChild(frag);
    const lines = logEl.getElementsByClassName('line');
    while (lines.length > st.window) logEl.firstElementChild.remove();
    shownLines = lines.length;
    if (atBottom || full) logEl.scrollTop = logEl.scrollHeight;
    let text = name ? name + ': the last ' + count(l.lines || 0, 'line') : '';
    if (l.skipped) text += '; ' + count(l.skipped, 'line') + ' skipped under load (pets logs ' + name + ' has every line)';
    if (f) text += '; ' + shownLines.toLocaleString('en-US') + ' match "' + st.filter.trim() + '"';
    setText($('log-info'), text);
    logEl.dataset.service = name;
  }

  function render() {
    scheduled = false;
    const d = new Set(dirty);
    dirty.clear();
    if (d.has('structure')) {
      renderGraph();
      renderTabs();
    }
    if (d.has('services') || d.has('structure')) {
      renderServices();
      colorGraph();
    }
    if (d.has('tabs')) renderTabs();
    if (d.has('rounds')) renderRounds();
    if (d.has('reload')) renderReload();
    if (d.has('watch')) {
      renderWatch();
      renderRounds();
    }
    if (d.has('logFull')) renderLog(true);
    else if (d.has('log')) renderLog(false);
  }
})();
