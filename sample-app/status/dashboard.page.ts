/**
 * The dashboard: plain HTML, CSS and browser JavaScript in one string, so the sample needs no
 * build step and no static-file folder. It renders the status JSON, then follows the
 * server-sent events of `/dashboard/events`.
 */
export const DASHBOARD_PAGE = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>nestjs-orchestrator: live dashboard</title>
<style>
  :root { --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --muted: #656d76; --line: #d0d7de; }
  * { box-sizing: border-box; }
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1f2328; background: #f6f8fa; }
  header { display: flex; align-items: baseline; gap: 12px; padding: 12px 20px; background: #fff;
           border-bottom: 1px solid var(--line); }
  header h1 { font-size: 18px; margin: 0; }
  #connection { color: var(--muted); }
  #connection.live { color: var(--ok); }
  main { display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap: 16px;
         padding: 16px 20px; }
  section { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 12px 16px; }
  section h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted);
               margin: 0 0 8px; }
  .wide { grid-column: 1 / -1; }
  .row { display: flex; justify-content: space-between; align-items: center; padding: 4px 0; gap: 8px; }
  .state { font-weight: 600; padding: 2px 10px; border-radius: 12px; color: #fff; }
  .state.closed { background: var(--ok); }
  .state.open { background: var(--bad); }
  .state.half-open { background: var(--warn); }
  .bar { flex: 1; height: 10px; background: #eaeef2; border-radius: 5px; overflow: hidden; }
  .bar > div { height: 100%; background: #0969da; }
  .muted { color: var(--muted); }
  ol { margin: 0; padding-left: 18px; max-height: 160px; overflow: auto; }
  .big { font-size: 28px; font-weight: 600; }
  svg { width: 100%; height: 140px; background: #fff; }
  .legend span { margin-right: 12px; }
  .calls { color: #0969da; } .failures { color: var(--bad); }
</style>
</head>
<body>
<header>
  <h1>nestjs-orchestrator</h1>
  <span class="muted">LLM gateway, live</span>
  <span id="connection">connecting…</span>
</header>
<main>
  <section>
    <h2>Circuits</h2>
    <div id="circuits"><span class="muted">no circuit yet</span></div>
  </section>
  <section>
    <h2>Recent transitions</h2>
    <ol id="transitions" reversed></ol>
  </section>
  <section>
    <h2>Backpressure (depth / capacity)</h2>
    <div id="guards"><span class="muted">no guard</span></div>
  </section>
  <section>
    <h2>Rate limits (capacity left)</h2>
    <div id="limits"><span class="muted">no rate limit configured</span></div>
  </section>
  <section>
    <h2>Dedupe savings</h2>
    <div class="big" id="savings">0</div>
    <div class="muted" id="savings-detail">provider calls saved</div>
  </section>
  <section class="wide">
    <h2>Calls per second: all, and failed or refused</h2>
    <div class="legend"><span class="calls">&#9632; calls/s <b id="calls-rate">0</b></span>
      <span class="failures">&#9632; failed or refused/s <b id="failures-rate">0</b></span></div>
    <svg id="chart" viewBox="0 0 600 140" preserveAspectRatio="none">
      <polyline id="calls-line" fill="none" stroke="#0969da" stroke-width="2" points=""></polyline>
      <polyline id="failures-line" fill="none" stroke="#cf222e" stroke-width="2" points=""></polyline>
    </svg>
  </section>
</main>
<script>
(function () {
  'use strict';
  var POINTS = 60; // 30 s at one snapshot every 500 ms
  var history = [];
  var previous = null;
  var transitions = [];

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function replace(id, nodes, empty) {
    var box = document.getElementById(id);
    box.replaceChildren.apply(box, nodes.length ? nodes : [el('span', { class: 'muted' }, empty)]);
  }

  function setCircuit(name, state, failures) {
    var row = document.querySelector('[data-circuit="' + CSS.escape(name) + '"]');
    if (!row) {
      row = el('div', { class: 'row', 'data-circuit': name });
      row.append(el('span', {}, name), el('span', { class: 'muted failures-count' }),
                 el('span', { class: 'state' }));
      var box = document.getElementById('circuits');
      if (!box.querySelector('[data-circuit]')) box.replaceChildren();
      box.append(row);
    }
    var badge = row.querySelector('.state');
    badge.textContent = state;
    badge.className = 'state ' + state;
    row.setAttribute('data-state', state);
    if (failures !== undefined) row.querySelector('.failures-count').textContent = failures + ' failures';
  }

  function addTransition(t) {
    transitions.push(t);
    if (transitions.length > 20) transitions.shift();
    replace('transitions', transitions.slice().reverse().map(function (x) {
      var time = new Date(x.at).toLocaleTimeString();
      return el('li', {}, time + '  ' + x.circuit + ': ' + x.from + ' \u2192 ' + x.to);
    }), 'none yet');
  }

  function renderGuards(guards) {
    replace('guards', guards.map(function (g) {
      var row = el('div', { class: 'row', 'data-guard': g.name });
      var bar = el('div', { class: 'bar' });
      var fill = el('div');
      fill.style.width = (g.capacity ? Math.min(100, 100 * g.depth / g.capacity) : 0) + '%';
      bar.append(fill);
      row.append(el('span', {}, g.name), bar, el('span', { class: 'depth' }, g.depth + ' / ' + g.capacity));
      return row;
    }), 'no guard');
  }

  function renderLimits(limits) {
    replace('limits', limits.map(function (l) {
      var parts = [];
      var free = l.available || {};
      if (free.requests !== undefined) parts.push(free.requests + ' requests');
      if (free.tokens !== undefined) parts.push(free.tokens + ' tokens');
      var row = el('div', { class: 'row', 'data-limiter': l.name });
      row.append(el('span', {}, l.name), el('span', {}, parts.join(', ')));
      return row;
    }), 'no rate limit configured');
  }

  function renderSavings(counters) {
    var hits = counters.dedupeHits, runs = counters.dedupeExecutions, all = hits + runs;
    document.getElementById('savings').textContent = String(hits);
    document.getElementById('savings-detail').textContent = all
      ? 'provider calls saved: ' + hits + ' of ' + all + ' calls (' + Math.round(100 * hits / all) + '%)'
      : 'provider calls saved';
  }

  function totals(s) {
    return { at: Date.now(), calls: s.calls.success + s.calls.failure + s.calls.rejected,
             failures: s.calls.failure + s.calls.rejected };
  }

  function renderChart(snapshot) {
    var now = totals(snapshot);
    if (previous) {
      var seconds = Math.max(0.001, (now.at - previous.at) / 1000);
      history.push({ calls: (now.calls - previous.calls) / seconds,
                     failures: (now.failures - previous.failures) / seconds });
      if (history.length > POINTS) history.shift();
    }
    previous = now;
    var last = history[history.length - 1] || { calls: 0, failures: 0 };
    document.getElementById('calls-rate').textContent = last.calls.toFixed(1);
    document.getElementById('failures-rate').textContent = last.failures.toFixed(1);
    var top = Math.max(1, Math.max.apply(null, history.map(function (p) { return p.calls; })));
    function line(key) {
      // The newest point at the right edge; older ones slide left.
      var offset = POINTS - history.length;
      return history.map(function (p, i) {
        return ((offset + i) * 600 / (POINTS - 1)).toFixed(1) + ',' + (135 - 130 * p[key] / top).toFixed(1);
      }).join(' ');
    }
    document.getElementById('calls-line').setAttribute('points', line('calls'));
    document.getElementById('failures-line').setAttribute('points', line('failures'));
  }

  function render(snapshot) {
    snapshot.circuits.forEach(function (c) { setCircuit(c.name, c.state, c.failures); });
    renderGuards(snapshot.backpressure);
    renderLimits(snapshot.rateLimits || []);
    renderSavings(snapshot.counters);
    renderChart(snapshot);
  }

  function connect() {
    var source = new EventSource('/dashboard/events');
    var status = document.getElementById('connection');
    source.onopen = function () { status.textContent = 'live'; status.className = 'live'; };
    source.onerror = function () { status.textContent = 'reconnecting…'; status.className = ''; };
    source.addEventListener('snapshot', function (e) { render(JSON.parse(e.data)); });
    source.addEventListener('transition', function (e) {
      var t = JSON.parse(e.data);
      setCircuit(t.circuit, t.to);
      addTransition(t);
    });
  }

  fetch('/orchestrator/status').then(function (r) { return r.json(); }).then(function (status) {
    status.transitions.forEach(addTransition);
    render(status);
    connect();
  });
})();
</script>
</body>
</html>
`;
