// Propel ops dashboard: polls the gateway's /ops/api once a second and renders totals, charts (uPlot), the
// manual-intervention queue with its actions, dead letters, members, partitions and the actor inspector.
// Plain browser JavaScript, no build step. Everything shown comes from Redis and may hold user input (ids,
// reasons): it is only ever set as text, never as HTML.
(function () {
  'use strict';

  var API = '/ops/api';
  var LIVE_MS = 1000;
  var MANUAL_MS = 2000;
  var DEAD_MS = 5000;
  var CHART_HEIGHT = 220;

  var samples = [];
  var capacity = 600;
  var charts = {};
  var busy = new Set(); // actors with a retry or terminate in flight
  var lastOk = 0;

  // ---- helpers ------------------------------------------------------------------------------------------

  function $(id) {
    return document.getElementById(id);
  }

  /** Builds an element: h('td', { className: 'num' }, 'text', childNode, ...). */
  function h(tag, props) {
    var el = document.createElement(tag);
    if (props) {
      Object.keys(props).forEach(function (key) {
        var value = props[key];
        if (value === undefined || value === null) return;
        if (key === 'className') el.className = value;
        else if (key === 'dataset') Object.keys(value).forEach(function (d) { el.dataset[d] = value[d]; });
        else if (key.slice(0, 2) === 'on') el.addEventListener(key.slice(2), value);
        else if (key === 'title' || key === 'type' || key === 'disabled' || key === 'hidden') el[key] = value;
        else el.setAttribute(key, value);
      });
    }
    for (var i = 2; i < arguments.length; i++) append(el, arguments[i]);
    return el;
  }

  function append(el, child) {
    if (child === undefined || child === null || child === false) return;
    if (Array.isArray(child)) child.forEach(function (c) { append(el, c); });
    else el.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }

  function fill(tbody, rows) {
    tbody.replaceChildren.apply(tbody, rows);
  }

  var intFormat = new Intl.NumberFormat('en-US');
  function int(n) {
    return n === null || n === undefined ? '–' : intFormat.format(n);
  }
  function rate(n) {
    if (n === null || n === undefined) return '–';
    return n >= 100 ? intFormat.format(Math.round(n)) : n.toFixed(1);
  }
  function pad(n) {
    return n < 10 ? '0' + n : String(n);
  }
  function clock(ms) {
    var d = new Date(ms);
    return pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
  }
  function dateTime(ms) {
    var d = new Date(ms);
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' + clock(ms);
  }
  function age(ms) {
    if (ms === null || ms === undefined) return '–';
    var s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return s + 's';
    var m = Math.floor(s / 60);
    if (m < 60) return m + 'm ' + (s % 60) + 's';
    var hours = Math.floor(m / 60);
    if (hours < 48) return hours + 'h ' + (m % 60) + 'm';
    return Math.floor(hours / 24) + 'd ' + (hours % 24) + 'h';
  }
  /** Partition lists as ranges: [0,1,2,5] → "0–2, 5". */
  function ranges(list) {
    var out = [];
    for (var i = 0; i < list.length; i++) {
      var start = list[i];
      while (i + 1 < list.length && list[i + 1] === list[i] + 1) i++;
      out.push(start === list[i] ? String(start) : start + '–' + list[i]);
    }
    return out.join(', ') || '–';
  }
  function numCell(n, level) {
    return h('td', { className: 'num ' + (n === 0 ? 'zero' : level || '') }, int(n));
  }

  /** Calls the API; a lost session sends the browser to the login page. */
  function api(path, options) {
    options = options || {};
    var headers = { Accept: 'application/json' };
    if (options.method && options.method !== 'GET') {
      headers['X-Propel-Ops'] = '1'; // the CSRF check: a cross-site form cannot send it
      headers['Content-Type'] = 'application/json';
    }
    return fetch(API + path, { method: options.method || 'GET', headers: headers, credentials: 'same-origin', body: options.body ? JSON.stringify(options.body) : undefined })
      .then(function (res) {
        if (res.status === 401) {
          window.location.assign('/ops/login');
          throw new Error('the session ended; log in again');
        }
        return res.json().catch(function () { return null; }).then(function (body) {
          if (!res.ok) {
            var err = new Error((body && body.error && body.error.message) || 'HTTP ' + res.status);
            err.code = body && body.error && body.error.code;
            err.status = res.status;
            throw err;
          }
          return body;
        });
      });
  }

  /** Runs `work` now and again `ms` after it ends (polls never pile up behind a slow answer); its failure shows until it works again. */
  function every(ms, name, work) {
    function loop() {
      Promise.resolve()
        .then(work)
        .then(function () { problem(name, ''); }, function (err) { problem(name, err.message); })
        .then(function () { setTimeout(loop, ms); });
    }
    loop();
  }

  var problems = {};
  /** Shows (or, with '', clears) a problem of one source in the banner. */
  function problem(source, text) {
    if (text) problems[source] = text;
    else delete problems[source];
    var banner = $('banner');
    var all = Object.keys(problems).map(function (k) { return problems[k]; });
    banner.textContent = all.join(' · ');
    banner.hidden = all.length === 0;
  }

  var toastTimer;
  function toast(text, isError) {
    var el = $('toast');
    el.textContent = text;
    el.className = 'toast' + (isError ? ' error' : '');
    el.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { el.hidden = true; }, isError ? 8000 : 4000);
  }

  function setMetric(name, text) {
    document.querySelectorAll('[data-metric="' + name + '"]').forEach(function (el) { el.textContent = text; });
  }

  // ---- live: status and series ------------------------------------------------------------------------

  function refreshLive() {
    var since = samples.length ? samples[samples.length - 1].at : undefined;
    return Promise.all([api('/status'), api('/series' + (since ? '?since=' + since : ''))]).then(function (answers) {
      var status = answers[0].status;
      var series = answers[1];
      capacity = series.capacity;
      // Two polls may overlap (an action refreshes at once): keep each sample once.
      var newest = samples.length ? samples[samples.length - 1].at : -Infinity;
      samples = samples.concat(series.samples.filter(function (x) { return x.at > newest; })).slice(-capacity);
      lastOk = Date.now();
      renderStatus(status, samples[samples.length - 1]);
      renderCharts();
      var err = answers[0].samplingError;
      problem('sampling', err ? 'The gateway cannot sample Redis: ' + err.message + ' (since ' + clock(err.at) + ')' : '');
    });
  }

  function renderStatus(s, last) {
    var t = s.totals;
    $('ns').textContent = s.namespace;
    $('partition-count').textContent = String(s.partitions);
    var dead = t.dead + s.streams.reduce(function (n, x) { return n + x.dead; }, 0);
    setMetric('committed', last ? int(last.committed) : '–');
    setMetric('committedPerSec', last ? rate(last.committedPerSec) : '–');
    setMetric('received', last ? int(last.received) : '–');
    setMetric('receivedPerSec', last ? rate(last.receivedPerSec) : '–');
    setMetric('lag', int(t.lag));
    setMetric('pending', int(t.pending));
    setMetric('due', int(t.due));
    setMetric('overdue', int(t.overdue));
    setMetric('outbox', int(t.outbox));
    setMetric('manual', int(t.manual));
    setMetric('dead', int(dead));
    setMetric('members', int(t.members));
    setMetric('draining', int(t.draining));
    setMetric('owned', int(t.ownedPartitions));
    setMetric('unowned', int(t.unownedPartitions));
    document.querySelector('[data-metric="manual"]').closest('.card').classList.toggle('nonzero', t.manual > 0);
    document.querySelector('[data-metric="dead"]').closest('.card').classList.toggle('nonzero', dead > 0);

    fill($('members-table').tBodies[0], s.members.map(function (m) {
      return h('tr', null,
        h('td', { className: 'mono' }, m.id),
        h('td', null, m.host ? m.host + (m.pid ? ':' + m.pid : '') : '–'),
        h('td', null, m.heartbeatAgeMs === null ? '–' : age(m.heartbeatAgeMs) + ' ago'),
        h('td', null, ranges(m.partitions)),
        h('td', null, m.draining ? h('span', { className: 'badge warn', title: m.drain ? 'by ' + m.drain.by + ' at ' + dateTime(m.drain.at) : '' }, 'draining') : h('span', { className: 'badge good' }, 'live')));
    }));
    $('members-empty').hidden = s.members.length > 0;

    fill($('streams-table').tBodies[0], s.streams.map(function (x) {
      var groups = x.groups.map(function (g) { return g.name + ' ' + (g.lag === null ? '?' : int(g.lag)) + ' / ' + int(g.pending); }).join(', ');
      return h('tr', null, h('td', null, x.name), numCell(x.length), h('td', null, groups || '–'), numCell(x.dead, 'bad'));
    }));

    fill($('partitions-table').tBodies[0], s.perPartition.map(function (p) {
      return h('tr', { className: p.owner === null ? 'unowned' : '' },
        h('td', { className: 'num' }, String(p.partition)),
        h('td', { className: 'mono' }, p.owner === null ? h('span', { className: 'badge bad' }, 'unowned') : p.owner),
        h('td', { className: 'num' }, p.leaseTtlMs === null ? '–' : age(p.leaseTtlMs)),
        numCell(p.inbox), numCell(p.lag === null ? null : p.lag, 'warn'), numCell(p.pending, 'warn'), numCell(p.due),
        numCell(p.overdue, 'bad'), numCell(p.outbox), numCell(p.dead, 'bad'), numCell(p.manual, 'warn'));
    }));
  }

  function makeChart(id, series) {
    var el = $(id);
    var chart = new uPlot({
      width: Math.max(300, el.clientWidth),
      height: CHART_HEIGHT,
      series: [{}].concat(series.map(function (s) {
        return { label: s.label, stroke: s.color, fill: s.fill, dash: s.dash, width: 2, points: { show: false }, value: function (_u, v) { return v === null || v === undefined ? '–' : s.format(v); } };
      })),
      // From zero, with headroom; an idle system still gets a visible axis.
      scales: { x: { time: true }, y: { range: function (_u, _min, max) { return [0, (max > 0 ? max : 1) * 1.1]; } } },
      axes: [{ stroke: '#677284', grid: { stroke: '#eef1f5' } }, { stroke: '#677284', grid: { stroke: '#eef1f5' }, size: 56 }],
      legend: { live: true },
    }, [[]].concat(series.map(function () { return []; })), el);
    new ResizeObserver(function () { chart.setSize({ width: Math.max(300, el.clientWidth), height: CHART_HEIGHT }); }).observe(el);
    return chart;
  }
  function renderCharts() {
    if (typeof uPlot === 'undefined') return;
    if (!charts.throughput) {
      charts.throughput = makeChart('chart-throughput', [
        { label: 'committed/s', color: '#2f6fde', fill: 'rgba(47,111,222,.10)', format: rate },
        // Dashed: in a steady state it runs right on top of committed/s.
        { label: 'received/s', color: '#1f9d55', dash: [6, 4], format: rate },
      ]);
      charts.backlog = makeChart('chart-backlog', [
        { label: 'lag', color: '#c77700', fill: 'rgba(199,119,0,.10)', format: int },
        { label: 'pending', color: '#7a4fd6', format: int },
        { label: 'due', color: '#8b97a8', format: int },
      ]);
    }
    var xs = samples.map(function (s) { return s.at / 1000; });
    charts.throughput.setData([xs, pick('committedPerSec'), pick('receivedPerSec')]);
    charts.backlog.setData([xs, pick('lag'), pick('pending'), pick('due')]);
  }
  function pick(field) {
    return samples.map(function (s) { return s[field]; });
  }

  function renderLiveIndicator() {
    var el = $('live');
    var fresh = lastOk && Date.now() - lastOk < 3 * LIVE_MS;
    el.dataset.state = lastOk ? (fresh ? 'live' : 'stale') : 'connecting';
    $('live-text').textContent = lastOk ? (fresh ? 'live · ' : 'stale · last update ') + clock(lastOk) : 'connecting…';
  }

  // ---- manual intervention ------------------------------------------------------------------------------

  function refreshManual() {
    return api('/manual?limit=200').then(function (page) {
      var count = $('manual-count');
      count.textContent = page.total > page.items.length ? page.items.length + ' of ' + int(page.total) : int(page.total);
      count.classList.toggle('nonzero', page.total > 0);
      fill($('manual-table').tBodies[0], page.items.map(manualRow));
      $('manual-empty').hidden = page.items.length > 0;
    });
  }

  function manualRow(item) {
    var inFlight = busy.has(item.actor);
    return h('tr', { dataset: { actor: item.actor } },
      h('td', null, h('button', { type: 'button', className: 'actor-link', title: 'inspect', onclick: function () { inspectActor(item.ref.type, item.ref.id); } }, item.actor)),
      h('td', { className: 'num' }, String(item.partition)),
      h('td', null, dateTime(item.since), h('div', { className: 'age' }, age(Date.now() - item.since) + ' ago')),
      h('td', null, item.stage || '–'),
      h('td', null, h('span', { className: 'badge warn' }, item.reason)),
      h('td', { className: 'detail' }, item.detail || ''),
      h('td', { className: 'actions' },
        h('button', { type: 'button', className: 'retry', disabled: inFlight, onclick: function () { act('retry', item.ref); } }, 'Retry'),
        h('button', { type: 'button', className: 'secondary terminate', disabled: inFlight, onclick: function () { act('terminate', item.ref); } }, 'Terminate')));
  }

  /** Retry or terminate, then refresh the queue, the totals and an open inspector. */
  function act(verb, ref) {
    var actor = ref.type + '/' + ref.id;
    var body;
    if (verb === 'terminate') {
      var reason = window.prompt('Terminate ' + actor + '? It ends for good (grants already made stay).\nReason, recorded in its history:', '');
      if (reason === null) return;
      body = { reason: reason };
    }
    busy.add(actor);
    refreshManual().catch(function () {});
    api('/manual/' + encodeURIComponent(ref.type) + '/' + encodeURIComponent(ref.id) + '/' + verb, { method: 'POST', body: body || {} })
      .then(function (answer) {
        toast((verb === 'retry' ? 'Retried ' : 'Terminated ') + answer.actor + ' as ' + answer.operator + ': now ' + answer.status + (answer.duplicate ? ' (already applied)' : ''));
      })
      .catch(function (err) {
        toast(actor + ': ' + (err.code ? err.code + ' — ' : '') + err.message, true);
      })
      .then(function () {
        busy.delete(actor);
        var open = $('inspect-result').dataset.actor;
        return Promise.all([refreshManual(), refreshLive(), open === actor ? inspectActor(ref.type, ref.id, true) : null]);
      })
      .catch(function (err) { toast(err.message, true); });
  }

  // ---- dead letters -------------------------------------------------------------------------------------

  function refreshDead() {
    return api('/dead?limit=10').then(function (dead) {
      var count = $('dead-count');
      count.textContent = int(dead.total);
      count.classList.toggle('nonzero', dead.total > 0);
      fill($('dead-sources'), dead.totals.filter(function (t) { return t.count > 0; }).map(function (t) {
        return h('span', { className: 'chip' }, (typeof t.source === 'number' ? 'partition ' + t.source : t.source) + ' ', h('strong', null, int(t.count)));
      }));
      fill($('dead-table').tBodies[0], dead.items.map(function (d) {
        return h('tr', null,
          h('td', null, dateTime(d.at)),
          h('td', null, typeof d.source === 'number' ? 'partition ' + d.source : d.source),
          h('td', null, h('span', { className: 'badge bad' }, d.code), d.cause ? ' ' + d.cause : ''),
          h('td', { className: 'detail' }, d.reason + (d.channel ? ' (' + d.channel + ')' : '')),
          h('td', { className: 'num' }, d.deliveries === null ? '–' : String(d.deliveries)));
      }));
      $('dead-empty').hidden = dead.items.length > 0;
    });
  }

  // ---- inspector ----------------------------------------------------------------------------------------

  function inspectActor(type, id, quiet) {
    $('inspect-type').value = type;
    $('inspect-id').value = id;
    var out = $('inspect-result');
    if (!quiet) {
      history.replaceState(null, '', '#inspect=' + encodeURIComponent(type + '/' + id));
      $('inspector').scrollIntoView({ behavior: 'smooth', block: 'start' });
    }
    return api('/inspect/' + encodeURIComponent(type) + '/' + encodeURIComponent(id))
      .then(function (found) {
        out.dataset.actor = found.actor;
        out.replaceChildren(renderInspection(found));
      })
      .catch(function (err) {
        delete out.dataset.actor;
        out.replaceChildren(h('p', { className: 'inspect-error' }, err.message));
      });
  }

  function statusBadge(status) {
    var cls = status === 'MANUAL_INTERVENTION' ? 'warn' : /REJECTED|TERMINATED|EXPIRED|NEITHER/.test(status) ? 'bad' : /REWARDED|DONE|COMPLETED/.test(status) ? 'good' : '';
    return h('span', { className: 'badge ' + cls, id: 'inspect-status' }, status);
  }

  function field(label, value) {
    return h('div', { className: 'field' }, h('span', null, label), value);
  }

  function renderInspection(x) {
    var r = x.record;
    var head = h('div', { className: 'inspect-head' },
      h('strong', { className: 'mono' }, x.actor),
      r ? statusBadge(r.status) : h('span', { className: 'badge' }, 'no record'),
      r ? field('version', String(r.version)) : null,
      field('partition', String(x.partition)),
      r ? field('updated', dateTime(r.updatedAt)) : null,
      field('due', x.dueAt === null ? '–' : dateTime(x.dueAt)),
      x.manualSince !== null ? field('manual since', dateTime(x.manualSince)) : null,
      field('lease', x.leaseHeld ? 'held (a call is running)' : 'free'),
      r && r.status === 'MANUAL_INTERVENTION'
        ? h('span', { className: 'actions' },
            h('button', { type: 'button', onclick: function () { act('retry', x.ref); } }, 'Retry'), ' ',
            h('button', { type: 'button', className: 'secondary', onclick: function () { act('terminate', x.ref); } }, 'Terminate'))
        : null);

    var why = x.why && (x.why.codes.length || x.why.steps.length)
      ? h('div', { className: 'why' },
          h('strong', null, 'Why ' + x.why.status),
          h('ul', null,
            x.why.codes.map(function (c) { return h('li', null, h('code', null, c.where), ': ', h('strong', null, c.code), c.detail ? ' — ' + c.detail : ''); }),
            x.why.steps.slice(-5).map(function (s) {
              return h('li', null, clock(s.at) + ' ' + s.message + ' ' + s.from + ' → ' + s.to + ': ', s.code ? h('strong', null, s.code + ' ') : null, s.text);
            })))
      : null;

    var historyTable = h('table', { className: 'grid compact' },
      h('thead', null, h('tr', null, h('th', null, 'When'), h('th', null, 'Message'), h('th', null, 'From → to'), h('th', null, 'Why'))),
      h('tbody', null, x.history.slice().reverse().map(function (e) {
        return h('tr', null,
          h('td', { className: 'mono' }, clock(e.at)),
          h('td', null, e.message),
          h('td', null, e.from === e.to ? e.to : e.from + ' → ' + e.to),
          h('td', { className: 'detail' }, e.rejected ? h('span', null, h('span', { className: 'badge bad' }, e.rejected.code), ' ' + e.rejected.reason) : e.why || ''));
      })));

    var timeline = h('ol', { className: 'timeline', id: 'audit-timeline' }, x.audit.entries.map(function (a) {
      return h('li', { className: a.rejected ? 'rejected' : '' },
        h('div', null, h('span', { className: 'when' }, dateTime(a.at) + ' · v' + a.version), ' '),
        h('div', null, h('span', { className: 'msg' }, a.message), ' ', a.from === a.to ? a.to : a.from + ' → ' + a.to),
        a.rejected ? h('div', { className: 'reason' }, a.rejected.code + ': ' + a.rejected.reason) : a.why ? h('div', { className: 'reason' }, a.why) : null,
        a.effects && a.effects.length ? h('div', { className: 'effects' }, a.effects.join(' · ')) : null);
    }));

    return h('div', null, head, why,
      h('div', { className: 'inspect-grid' },
        h('div', null, h('h3', null, 'State'), h('pre', { className: 'json', id: 'inspect-state' }, JSON.stringify(r ? r.state : null, null, 2))),
        h('div', null,
          h('h3', null, 'Audit timeline'), h('div', { className: 'scroll' }, timeline),
          h('p', { className: 'note' }, x.audit.entries.length + ' audit records' + (x.audit.complete ? '' : ' (the newest found in the last ' + int(x.audit.scanned) + ' entries of the partition\'s audit stream)')),
          h('h3', null, 'History'), h('div', { className: 'scroll short' }, historyTable))));
  }

  // ---- start --------------------------------------------------------------------------------------------

  document.addEventListener('DOMContentLoaded', function () {
    api('/me').then(function (me) { $('operator').textContent = me.operator; }).catch(function () {});
    $('inspect-form').addEventListener('submit', function (e) {
      e.preventDefault();
      inspectActor($('inspect-type').value.trim(), $('inspect-id').value.trim());
    });
    var m = /^#inspect=(.+)$/.exec(window.location.hash);
    if (m) {
      var address = decodeURIComponent(m[1]);
      var slash = address.indexOf('/');
      if (slash > 0) inspectActor(address.slice(0, slash), address.slice(slash + 1), true);
    }
    every(LIVE_MS, 'live', refreshLive);
    every(MANUAL_MS, 'manual', refreshManual);
    every(DEAD_MS, 'dead', refreshDead);
    setInterval(renderLiveIndicator, 500);
  });
})();
