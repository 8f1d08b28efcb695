/* The Tidings dashboard: reads the admin API of this server with the admin
   key and draws every chart as inline SVG. No libraries, no other origin.

   The key comes from the field on the page or from the URL fragment
   (#key=...), which browsers never send to a server; it is kept in
   sessionStorage (this tab only) and removed from the address bar at once.

   Data from the API (segment, journey and event names) only ever becomes
   text nodes and attribute values, never markup. */
'use strict';

(() => {
  const SVG = 'http://www.w3.org/2000/svg';
  const STORE = 'tidings.dashboard.admin_key';
  // Okabe and Ito's palette stays distinguishable with the common colour
  // vision deficiencies; dash patterns and labels tell series apart without it.
  const COLORS = ['#0072b2', '#e69f00', '#009e73', '#cc79a7', '#56b4e9', '#d55e00', '#8c6d1f', '#666666'];
  const DASHES = ['', '6 3', '2 3', '10 3 2 3'];
  const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const CHAR = 6.6; // average width of a 12px label character, for layout
  /** Series `i`'s colour and dash; no two of the first 32 look alike. */
  const look = (i) => ({ color: COLORS[i % COLORS.length], dash: DASHES[(i + Math.floor(i / COLORS.length)) % DASHES.length] });

  let memoryKey = null; // when sessionStorage is unavailable
  let loaded = null; // the last answers, drawn again when the width changes
  let generation = 0; // a newer load supersedes one still in flight
  let drawnWidth = 0;

  // ---- DOM ---------------------------------------------------------------

  function build(node, attrs, kids) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'text') node.textContent = String(v);
      else node.setAttribute(k, String(v));
    }
    for (const kid of kids.flat()) {
      if (kid === null || kid === undefined || kid === false) continue;
      node.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return node;
  }
  const h = (tag, attrs, ...kids) => build(document.createElement(tag), attrs, kids);
  const s = (tag, attrs, ...kids) => build(document.createElementNS(SVG, tag), attrs, kids);

  /** The API's messages start lowercase and have no period (they nest in others); alone, they are sentences. */
  const sentence = (text) => text.charAt(0).toUpperCase() + text.slice(1) + (/[.!?]$/.test(text) ? '' : '.');

  function note(text, error) {
    return h('p', { class: error ? 'note error' : 'note', role: error ? 'alert' : null, text });
  }

  function table(headers, rows) {
    return h('details', {},
      h('summary', { text: 'The numbers' }),
      h('div', { class: 'table-wrap' },
        h('table', {},
          h('thead', {}, h('tr', {}, headers.map((c) => h('th', { scope: 'col', text: c })))),
          h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c, i) => h(i === 0 ? 'th' : 'td', i === 0 ? { scope: 'row', text: c } : { text: c }))))))));
  }

  function legend(items) {
    return h('ul', { class: 'legend' }, items.map((it) => h('li', {},
      s('svg', { width: 24, height: 12, 'aria-hidden': 'true' }, it.hollow
        ? s('circle', { cx: 12, cy: 6, r: 4.5, stroke: it.color, 'stroke-width': 2, fill: it.color, class: 'hollow' })
        : s('line', { x1: 1, x2: 23, y1: 6, y2: 6, stroke: it.color, 'stroke-width': it.bar ? 8 : 2.5, 'stroke-dasharray': it.dash || null })),
      h('span', { text: it.label }))));
  }

  function truncate(text, chars) {
    return text.length <= chars ? text : text.slice(0, Math.max(1, chars - 1)) + '…';
  }

  // ---- numbers -------------------------------------------------------------

  const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
  const fmt = {
    int: (n) => (isNum(n) ? Math.round(n).toLocaleString('en-US') : '–'),
    money: (n) => (isNum(n) ? n.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 }) : '–'),
    pct: (r) => (isNum(r) ? (100 * r).toFixed(1) + '%' : '–'),
    ratio: (r) => (isNum(r) ? r.toFixed(r >= 100 ? 0 : r >= 10 ? 1 : 2) : '–'),
    p: (p) => (isNum(p) ? (p < 0.001 ? p.toExponential(1) : p.toFixed(3)) : '–'),
  };
  /** Tick labels: `kind` is 'int', 'money' or 'pct'; `step` sets the decimals. */
  function tickLabel(v, step, kind) {
    if (kind === 'pct') return (100 * v).toFixed(Math.max(0, -Math.floor(Math.log10(step * 100) + 1e-9))) + '%';
    if (Math.abs(v) >= 1e6) return +(v / 1e6).toFixed(2) + 'M';
    if (Math.abs(v) >= 1e4) return +(v / 1e3).toFixed(1) + 'k';
    return v.toLocaleString('en-US', { maximumFractionDigits: Math.max(0, -Math.floor(Math.log10(step) + 1e-9)) });
  }

  /** Ticks from 0 to a round number at or above `max`; whole numbers for counts. */
  function linearTicks(max, count, whole) {
    const m = max > 0 ? max : 1;
    const raw = m / Math.max(1, count);
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const f = raw / mag;
    const step = Math.max(whole ? 1 : 0, (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag);
    const top = Math.ceil(m / step - 1e-9) * step;
    const ticks = [];
    for (let i = 0; i * step <= top + step / 2; i++) ticks.push(+(i * step).toPrecision(12));
    return { top, step, ticks };
  }

  /** 1, 2, 5 times powers of ten inside [lo, hi], thinned to about `count`. */
  function logTicks(lo, hi, count) {
    const all = [];
    for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
      for (const m of [1, 2, 5]) {
        const v = +(m * Math.pow(10, e)).toPrecision(12);
        if (v >= lo && v <= hi) all.push(v);
      }
    }
    if (all.length <= count) return all;
    const decades = all.filter((v) => Math.abs(Math.log10(v) - Math.round(Math.log10(v))) < 1e-9);
    return decades.length >= 2 ? decades : all.filter((v, i) => i % Math.ceil(all.length / count) === 0);
  }

  // ---- days ------------------------------------------------------------------

  const dayNumber = (d) => Math.round(Date.UTC(+d.slice(0, 4), +d.slice(5, 7) - 1, +d.slice(8, 10)) / 864e5);
  const dayText = (n) => new Date(n * 864e5).toISOString().slice(0, 10);
  /** An RFC 3339 time from the API, to the minute. */
  const timeText = (ts) => (typeof ts === 'string' ? ts.slice(0, 16).replace('T', ' ') + ' UTC' : '–');
  const dayLabel = (d) => +d.slice(8, 10) + ' ' + MONTHS[+d.slice(5, 7) - 1];

  /** Every day from the first to the last of `days` (YYYY-MM-DD). */
  function dayRange(days) {
    if (!days.length) return [];
    const nums = days.map(dayNumber);
    const out = [];
    for (let n = Math.min(...nums); n <= Math.max(...nums); n++) out.push(dayText(n));
    return out;
  }

  // ---- charts ----------------------------------------------------------------

  function chartSvg(name, label, width, height) {
    return s('svg', {
      class: 'chart', 'data-chart': name, role: 'img', 'aria-label': label,
      viewBox: `0 0 ${width} ${height}`, width, height, preserveAspectRatio: 'xMinYMin meet',
    });
  }

  /**
   * Horizontal bars: a row per item, a bar per series in it.
   * rows: [{label, title, values: [number|null per series]}]
   */
  function barChart({ name, label, rows, series, width, kind }) {
    const format = fmt[kind];
    const barH = series.length > 1 ? 13 : 18;
    const gap = 10;
    const rowH = series.length * barH + gap;
    const longest = Math.max(...rows.map((r) => r.label.length));
    const labelW = Math.min(Math.round(width * 0.4), Math.ceil(8 + CHAR * longest));
    const labelChars = Math.floor((labelW - 8) / CHAR);
    const left = labelW + 8;
    const plotW = Math.max(40, width - left - 74);
    const top = 2;
    const bottom = top + rows.length * rowH;
    const height = bottom + 22;
    const max = Math.max(0, ...rows.flatMap((r) => r.values.filter(isNum)));
    const axis = linearTicks(max, Math.max(2, Math.floor(plotW / 70)), kind === 'int');
    const x = (v) => left + (v / axis.top) * plotW;
    const svg = chartSvg(name, label, width, height);
    const ax = s('g', { class: 'axis', 'aria-hidden': 'true' });
    for (const t of axis.ticks) {
      svg.append(s('line', { class: 'gridline', x1: x(t), x2: x(t), y1: top, y2: bottom }));
      ax.append(s('text', { x: x(t), y: height - 5, 'text-anchor': 'middle', text: tickLabel(t, axis.step, kind) }));
    }
    ax.append(s('line', { x1: left, x2: left, y1: top, y2: bottom }));
    svg.append(ax);
    rows.forEach((r, i) => {
      const y0 = top + i * rowH + gap / 2;
      const g = s('g', {}, s('title', { text: r.title }));
      g.append(s('rect', { class: 'hit', x: 0, y: y0 - gap / 2, width, height: rowH }));
      g.append(s('text', {
        x: labelW, y: y0 + (series.length * barH) / 2, 'text-anchor': 'end', 'dominant-baseline': 'central',
        text: truncate(r.label, labelChars),
      }));
      series.forEach((se, j) => {
        const v = r.values[j];
        const y = y0 + j * barH;
        if (isNum(v)) {
          g.append(s('rect', { x: left, y: y + 1, width: Math.max(v > 0 ? 1.5 : 0, x(v) - left), height: barH - 2, rx: 2, fill: se.color }));
        }
        g.append(s('text', {
          x: (isNum(v) ? x(v) : left) + 4, y: y + barH / 2, 'dominant-baseline': 'central', class: 'muted',
          text: isNum(v) ? format(v) : 'n/a',
        }));
      });
      svg.append(g);
    });
    return svg;
  }

  /**
   * Lines over consecutive days. series: [{label, color, dash, values}];
   * `step` draws each value flat until the next day (end-of-day sizes).
   */
  function lineChart({ name, label, days, series, width, step }) {
    const left = 48;
    const right = 14;
    const top = 10;
    const height = Math.round(Math.min(320, Math.max(200, width * 0.5)));
    const bottom = height - 24;
    const plotW = width - left - right;
    const plotH = bottom - top;
    const n = days.length;
    const x = (i) => left + (n === 1 ? plotW / 2 : (i / (n - 1)) * plotW);
    const max = Math.max(0, ...series.flatMap((se) => se.values.filter(isNum)));
    const axis = linearTicks(max, 5, true);
    const y = (v) => bottom - (v / axis.top) * plotH;
    const svg = chartSvg(name, label, width, height);
    const ax = s('g', { class: 'axis', 'aria-hidden': 'true' });
    for (const t of axis.ticks) {
      svg.append(s('line', { class: 'gridline', x1: left, x2: left + plotW, y1: y(t), y2: y(t) }));
      ax.append(s('text', { x: left - 6, y: y(t), 'text-anchor': 'end', 'dominant-baseline': 'central', text: tickLabel(t, axis.step, 'int') }));
    }
    const every = Math.max(1, Math.ceil(n / Math.max(1, Math.floor(plotW / 64))));
    for (let i = 0; i < n; i += every) {
      ax.append(s('line', { x1: x(i), x2: x(i), y1: bottom, y2: bottom + 4 }));
      ax.append(s('text', { x: x(i), y: height - 4, 'text-anchor': 'middle', text: dayLabel(days[i]) }));
    }
    ax.append(s('line', { x1: left, x2: left + plotW, y1: bottom, y2: bottom }));
    svg.append(ax);
    for (const se of series) {
      let d = '';
      se.values.forEach((v, i) => {
        if (!isNum(v)) return;
        if (!d) d = `M${x(i)},${y(v)}`;
        else if (step) d += `H${x(i)}V${y(v)}`;
        else d += `L${x(i)},${y(v)}`;
      });
      svg.append(s('path', { d, fill: 'none', stroke: se.color, 'stroke-width': 2, 'stroke-dasharray': se.dash || null, 'stroke-linejoin': 'round' }));
      if (n <= 31 && series.length <= 4) {
        se.values.forEach((v, i) => {
          if (isNum(v)) svg.append(s('circle', { cx: x(i), cy: y(v), r: 2.5, fill: se.color }));
        });
      }
    }
    // One hover column per day, naming every series' value.
    const half = n === 1 ? plotW / 2 : plotW / (n - 1) / 2;
    days.forEach((day, i) => {
      const lines = series.map((se) => `${se.label}: ${fmt.int(se.values[i])}`);
      svg.append(s('rect', { class: 'hit', x: x(i) - half, y: top, width: 2 * half, height: plotH },
        s('title', { text: [day, ...lines].join('\n') })));
    });
    return svg;
  }

  /**
   * A forest plot: each signal's ratio with its interval on a log axis.
   * rows: [{label, ratio, lo, hi, tooSmall, title}]
   */
  function forestPlot({ name, label, rows, width }) {
    const rowH = 22;
    const top = 4;
    const longest = Math.max(...rows.map((r) => r.label.length + (r.tooSmall ? 12 : 0)));
    const labelW = Math.min(Math.round(width * 0.42), Math.ceil(8 + CHAR * longest));
    const labelChars = Math.floor((labelW - 8) / CHAR);
    const valueW = 128;
    const left = labelW + 10;
    const plotW = Math.max(60, width - left - valueW);
    const bottom = top + rows.length * rowH;
    const height = bottom + 40;
    const lo = Math.min(1, ...rows.map((r) => r.lo)) / 1.15;
    const hi = Math.max(1, ...rows.map((r) => r.hi)) * 1.15;
    const x = (v) => left + ((Math.log(v) - Math.log(lo)) / (Math.log(hi) - Math.log(lo))) * plotW;
    const svg = chartSvg(name, label, width, height);
    const ax = s('g', { class: 'axis', 'aria-hidden': 'true' });
    for (const t of logTicks(lo, hi, Math.max(3, Math.floor(plotW / 48)))) {
      svg.append(s('line', { class: 'gridline', x1: x(t), x2: x(t), y1: top, y2: bottom }));
      ax.append(s('text', { x: x(t), y: bottom + 15, 'text-anchor': 'middle', text: String(t) }));
    }
    ax.append(s('line', { x1: left, x2: left + plotW, y1: bottom, y2: bottom }));
    ax.append(s('text', { x: left + plotW / 2, y: height - 4, 'text-anchor': 'middle', text: 'order rate with ÷ without (log scale; 1 = no difference)' }));
    svg.append(ax);
    svg.append(s('line', { class: 'ref', x1: x(1), x2: x(1), y1: top, y2: bottom }));
    rows.forEach((r, i) => {
      const cy = top + i * rowH + rowH / 2;
      const color = r.lo > 1 ? COLORS[0] : r.hi < 1 ? COLORS[5] : '#888888';
      const g = s('g', {}, s('title', { text: r.title }));
      g.append(s('rect', { class: 'hit', x: 0, y: cy - rowH / 2, width, height: rowH }));
      const text = s('text', { x: labelW, y: cy, 'text-anchor': 'end', 'dominant-baseline': 'central' },
        truncate(r.label, labelChars - (r.tooSmall ? 12 : 0)));
      if (r.tooSmall) text.append(s('tspan', { class: 'muted', text: ' (too small)' }));
      g.append(text);
      g.append(s('line', { x1: x(r.lo), x2: x(r.hi), y1: cy, y2: cy, stroke: color, 'stroke-width': 2 }));
      for (const end of [r.lo, r.hi]) g.append(s('line', { x1: x(end), x2: x(end), y1: cy - 4, y2: cy + 4, stroke: color, 'stroke-width': 2 }));
      g.append(s('circle', {
        cx: x(r.ratio), cy, r: 4.5, stroke: color, 'stroke-width': 2,
        fill: color, class: r.tooSmall ? 'hollow' : null, 'data-too-small': r.tooSmall ? 'true' : null,
      }));
      g.append(s('text', {
        x: left + plotW + 8, y: cy, 'dominant-baseline': 'central', class: 'muted',
        text: `${fmt.ratio(r.ratio)} (${fmt.ratio(r.lo)}–${fmt.ratio(r.hi)})`,
      }));
      svg.append(g);
    });
    return svg;
  }

  // ---- cards -----------------------------------------------------------------

  function card(id) {
    const el = document.getElementById('card-' + id);
    return { el, body: el.querySelector('.body'), method: el.querySelector('.method') };
  }

  function widthOf(body) {
    return Math.max(260, Math.floor(body.clientWidth || 600));
  }

  /** Sums of the email counts over every journey and broadcast. */
  function totals(report) {
    const t = { sent: 0, human_opens: 0, machine_opens: 0, clicks: 0, conversions: 0, revenue: 0, unsubscribes: 0 };
    for (const r of Object.values(report.by_journey || {})) {
      for (const k of Object.keys(t)) t[k] += r[k] || 0;
    }
    return t;
  }

  const ratio = (n, d) => (d > 0 ? n / d : null);

  function journeyLabel(key) {
    if (key.startsWith('journey:')) return key.slice(8);
    if (key.startsWith('broadcast:')) return key.slice(10) + ' (broadcast)';
    return key;
  }

  function drawHeadline(c, report, stats) {
    const t = totals(report);
    if (t.sent === 0) {
      c.body.append(note('No email sent yet: the numbers appear once journeys or broadcasts send.'));
    }
    const tile = (key, label, value, sub) => h('div', { class: 'tile' },
      h('dt', { text: label }),
      h('dd', {}, h('span', { 'data-tile': key, text: value }), sub ? h('span', { class: 'sub', text: sub }) : null));
    const tiles = t.sent === 0 ? [] : [
      tile('sent', 'Emails sent', fmt.int(t.sent), `${fmt.int(t.unsubscribes)} unsubscribes`),
      tile('open_rate', 'Human open rate', fmt.pct(ratio(t.human_opens, t.sent)), `${fmt.int(t.human_opens)} opened; ${fmt.int(t.machine_opens)} machine opens apart`),
      tile('click_rate', 'Click rate', fmt.pct(ratio(t.clicks, t.sent)), `${fmt.int(t.clicks)} clicked; ${fmt.pct(ratio(t.clicks, t.human_opens))} of opens`),
      tile('conversions', 'Conversions', fmt.int(t.conversions), `${fmt.pct(ratio(t.conversions, t.sent))} of emails`),
      tile('revenue', 'Revenue', fmt.money(t.revenue), 'attributed to email'),
      tile('revenue_per_email', 'Revenue per email', fmt.money(ratio(t.revenue, t.sent)), null),
    ];
    if (stats) {
      tiles.push(tile('profiles', 'People', fmt.int(stats.profiles), `${fmt.int(stats.events)} events stored`));
    }
    c.body.append(h('dl', { class: 'tiles' }, tiles));
  }

  function drawJourneys(c, report) {
    const entries = Object.entries(report.by_journey || {}).filter(([, r]) => r.sent > 0);
    if (!entries.length) {
      c.body.append(note('No email sent yet.'));
      return;
    }
    entries.sort((a, b) => b[1].sent - a[1].sent || (a[0] < b[0] ? -1 : 1));
    const width = widthOf(c.body);
    const title = ([k, r]) => `${k}: ${fmt.int(r.sent)} sent, ${fmt.int(r.conversions)} conversions (${fmt.pct(r.conversion_rate)}), revenue ${fmt.money(r.revenue)} (${fmt.money(r.revenue_per_email)} per email)`;
    const rows = (pick) => entries.map((e) => ({ label: journeyLabel(e[0]), title: title(e), values: [pick(e[1])] }));
    c.body.append(
      h('h3', { text: 'Conversion rate (orders attributed per email sent)' }),
      barChart({ name: 'journeys-conversion', label: 'Conversion rate per email, by journey', rows: rows((r) => r.conversion_rate), series: [{ color: COLORS[0] }], width, kind: 'pct' }),
      h('h3', { text: 'Revenue per email' }),
      barChart({ name: 'journeys-revenue', label: 'Attributed revenue per email sent, by journey', rows: rows((r) => r.revenue_per_email), series: [{ color: COLORS[2] }], width, kind: 'money' }),
      table(['Journey', 'Sent', 'Human open rate', 'Click rate', 'Conversions', 'Conversion rate', 'Revenue', 'Revenue per email', 'Unsubscribes'],
        entries.map(([k, r]) => [k, fmt.int(r.sent), fmt.pct(r.open_rate), fmt.pct(r.click_rate), fmt.int(r.conversions), fmt.pct(r.conversion_rate), fmt.money(r.revenue), fmt.money(r.revenue_per_email), fmt.int(r.unsubscribes)])),
    );
  }

  function drawDays(c, report) {
    const byDay = report.by_day || {};
    const days = dayRange(Object.keys(byDay));
    if (!days.length) {
      c.body.append(note('No email sent yet.'));
      return;
    }
    const pick = (k) => days.map((d) => (byDay[d] ? byDay[d][k] || 0 : 0));
    const series = [
      { label: 'Sent', color: COLORS[0], dash: DASHES[0], values: pick('sent') },
      { label: 'Human opens', color: COLORS[1], dash: DASHES[1], values: pick('human_opens') },
      { label: 'Clicks', color: COLORS[2], dash: DASHES[2], values: pick('clicks') },
    ];
    const sum = (v) => v.reduce((a, b) => a + b, 0);
    c.body.append(
      lineChart({ name: 'days', label: `Emails sent, human opens and clicks per day, ${days[0]} to ${days[days.length - 1]}`, days, series, width: widthOf(c.body) }),
      legend(series.map((se) => ({ color: se.color, dash: se.dash, label: `${se.label} (${fmt.int(sum(se.values))} in all)` }))),
      table(['Day (UTC)', 'Sent', 'Human opens', 'Clicks', 'Conversions', 'Revenue'],
        days.filter((d) => byDay[d]).map((d) => [d, fmt.int(byDay[d].sent), fmt.int(byDay[d].human_opens), fmt.int(byDay[d].clicks), fmt.int(byDay[d].conversions), fmt.money(byDay[d].revenue)])),
    );
  }

  /** Display names of segments by key, from /api/segments when it answered. */
  function segmentNames(segments) {
    const names = new Map();
    for (const seg of (segments && segments.segments) || []) names.set(seg.key, seg.name || seg.key);
    return names;
  }

  function drawSizes(c, report, segments, segmentsError) {
    const names = segmentNames(segments);
    const stats = report.segments || {};
    const keys = Object.keys(stats).filter((k) => Object.keys(stats[k].size_by_day || {}).length);
    const width = widthOf(c.body);
    if (segmentsError) c.body.append(note(sentence(segmentsError.message), segmentsError.status !== 404));
    if (segments && segments.rebuilding) {
      c.body.append(note(`The engine is rebuilding every profile's state (${fmt.int(segments.rebuilding.done)} of ${fmt.int(segments.rebuilding.total)}); sizes may lag until it finishes.`));
    }
    if (keys.length) {
      const days = dayRange(keys.flatMap((k) => Object.keys(stats[k].size_by_day)));
      const series = keys.map((k, i) => {
        let last = 0;
        const values = days.map((d) => {
          const v = stats[k].size_by_day[d];
          if (isNum(v)) last = v;
          return last;
        });
        return { key: k, label: names.get(k) || k, ...look(i), values };
      });
      c.body.append(
        h('h3', { text: 'Size at the end of each day' }),
        lineChart({ name: 'segment-sizes', label: `Segment sizes by day, ${days[0]} to ${days[days.length - 1]}`, days, series, width, step: true }),
        legend(series.map((se) => ({ color: se.color, dash: se.dash, label: `${se.label}: ${fmt.int(se.values[se.values.length - 1])}` }))),
      );
    } else if (!segmentsError) {
      c.body.append(note('No segment has had members yet.'));
    }
    const live = (segments && segments.segments) || [];
    if (live.length) {
      const rows = live.map((seg) => ({ label: seg.name || seg.key, title: `${seg.name || seg.key} (${seg.key}): ${fmt.int(seg.size)} members now`, values: [seg.size] }));
      c.body.append(
        h('h3', { text: 'Members now' }),
        barChart({ name: 'segment-now', label: 'Members of each segment now', rows, series: [{ color: COLORS[0] }], width, kind: 'int' }),
        table(['Segment', 'Key', 'Members now', 'Ever members', 'Entries', 'Exits'], live.map((seg) => {
          const st = stats[seg.key] || {};
          const mv = (report.segment_movement || {})[seg.key] || {};
          return [seg.name || seg.key, seg.key, fmt.int(seg.size), fmt.int(st.members_ever || 0), fmt.int(mv.entered || 0), fmt.int(mv.exited || 0)];
        })),
      );
    }
  }

  function drawMembers(c, report, segments) {
    const names = segmentNames(segments);
    const entries = Object.entries(report.segments || {}).filter(([, st]) => st.members_ever > 0);
    if (!entries.length) {
      c.body.append(note('No segment has had members yet.'));
      return;
    }
    const series = [
      { label: 'Members (ordered while a member)', color: COLORS[0] },
      { label: 'Never members', color: COLORS[1] },
    ];
    const rows = entries.map(([k, st]) => ({
      label: names.get(k) || k,
      title: `${names.get(k) || k} (${k}): members ${fmt.pct(st.member_conversion)} (${fmt.int(st.member_buyers)} of ${fmt.int(st.members_ever)}), never members ${fmt.pct(st.non_member_conversion)} (${fmt.int(st.non_member_buyers)} of ${fmt.int(st.non_members)}); average order ${fmt.money(st.average_order_value)}`,
      values: [st.member_conversion, st.non_member_conversion],
    }));
    c.body.append(
      barChart({ name: 'segment-conversion', label: 'Share who ordered: members of each segment against people never in it', rows, series, width: widthOf(c.body), kind: 'pct' }),
      legend(series.map((se) => ({ color: se.color, bar: true, label: se.label }))),
      table(['Segment', 'Ever members', 'Ordered while member', 'Never members', 'Ordered', 'Average order', 'Mean predicted CLV'],
        entries.map(([k, st]) => [names.get(k) || k, fmt.int(st.members_ever), fmt.pct(st.member_conversion), fmt.int(st.non_members), fmt.pct(st.non_member_conversion), fmt.money(st.average_order_value), fmt.money(st.predicted_clv_mean)])),
    );
  }

  function signalLabel(sig, names) {
    const m = /^in segment (\S+)$/.exec(sig.name);
    if (sig.kind === 'segment' && m && names.has(m[1]) && names.get(m[1]) !== m[1]) return `${sig.name} (${names.get(m[1])})`;
    return sig.name;
  }

  function drawSignals(c, signals, segments) {
    const names = segmentNames(segments);
    if (signals.error) {
      c.body.append(signals.population === 0
        ? note(`Nothing to analyse yet: nobody has events before the cut, ${timeText(signals.cut)}.`)
        : note(`The analysis could not run: ${signals.error}.`, true));
      return;
    }
    c.body.append(h('p', {
      class: 'note',
      text: `${fmt.int(signals.population)} people; behaviour in the ${signals.lookback_days} days before ${timeText(signals.cut)}, against "${signals.outcome}" in the ${signals.horizon_days} days after (${fmt.int(signals.conversions)} converted, ${fmt.pct(signals.base_rate)}).`,
    }));
    const all = signals.signals || [];
    const compared = all.filter((sig) => sig.comparison && isNum(sig.comparison.ratio) && sig.comparison.ratio_ci_low > 0 && isNum(sig.comparison.ratio_ci_high));
    if (compared.length) {
      const rows = compared.map((sig) => {
        const cmp = sig.comparison;
        return {
          label: signalLabel(sig, names),
          ratio: cmp.ratio, lo: cmp.ratio_ci_low, hi: cmp.ratio_ci_high, tooSmall: sig.too_small === true,
          title: `#${sig.rank} ${signalLabel(sig, names)}: ratio ${fmt.ratio(cmp.ratio)} (95% interval ${fmt.ratio(cmp.ratio_ci_low)}–${fmt.ratio(cmp.ratio_ci_high)}); ordered ${fmt.pct(sig.rate_with)} with (${fmt.int(sig.count)} people, ${fmt.pct(sig.coverage)} of all), ${fmt.pct(sig.rate_without)} without; p (Holm) ${fmt.p(cmp.p_holm)}${sig.too_small ? '; segment too small to test the minimum lift' : ''}`,
        };
      });
      c.body.append(
        forestPlot({ name: 'signals', label: `Ratio of order rates with and without each of ${rows.length} signals, with 95% intervals, log scale`, rows, width: widthOf(c.body) }),
        legend([
          { color: COLORS[0], bar: true, label: 'interval above 1' },
          { color: COLORS[5], bar: true, label: 'interval below 1' },
          { color: '#888888', bar: true, label: 'interval includes 1' },
          { color: '#888888', hollow: true, label: '"(too small)": a segment smaller than a test of the minimum lift needs' },
        ]),
      );
    } else {
      c.body.append(note('No signal could be compared yet: every signal is shown by nobody or everybody, or one side has no orders.'));
    }
    const rest = all.filter((sig) => !compared.includes(sig));
    if (rest.length) {
      c.body.append(h('h3', { text: 'Not on the plot' }), h('ul', { class: 'plain' }, rest.map((sig) => h('li', {
        text: `${signalLabel(sig, names)}: ${!sig.comparison ? (sig.below_min_coverage ? 'below the minimum coverage' : 'shown by nobody or by everybody, nothing to compare') : 'no ratio, one side has no orders'}${sig.too_small ? ' (too small)' : ''}`,
      }))));
    }
    const overlaps = signals.overlaps || [];
    c.body.append(h('h3', { text: 'Segments that nearly coincide' }));
    if (overlaps.length) {
      c.body.append(h('ul', { class: 'plain' }, overlaps.map((o) => h('li', {
        text: `${names.get(o.a) || o.a} and ${names.get(o.b) || o.b}: Jaccard ${o.jaccard.toFixed(2)}, ${fmt.int(o.intersection)} in both; candidates to merge`,
      }))));
    } else {
      c.body.append(note('None: no two segments overlap enough to merge.'));
    }
    if (all.length) {
      c.body.append(table(['#', 'Signal', 'People', 'Coverage', 'Ordered with', 'Ordered without', 'Ratio', '95% interval', 'p (Holm)', 'p (BH)', 'Segment too small'],
        all.map((sig) => {
          const cmp = sig.comparison || {};
          return [String(sig.rank), signalLabel(sig, names), fmt.int(sig.count), fmt.pct(sig.coverage), fmt.pct(sig.rate_with), fmt.pct(sig.rate_without),
            fmt.ratio(cmp.ratio), isNum(cmp.ratio_ci_low) ? `${fmt.ratio(cmp.ratio_ci_low)}–${fmt.ratio(cmp.ratio_ci_high)}` : '–', fmt.p(cmp.p_holm), fmt.p(cmp.p_bh),
            sig.too_small === true ? 'yes' : sig.too_small === false ? 'no' : ''];
        })));
    }
  }

  function drawStages(c, segments, segmentsError) {
    if (segmentsError) {
      c.body.append(note(sentence(segmentsError.message), segmentsError.status !== 404));
      return;
    }
    const sets = segments.stage_sets || [];
    if (!sets.length) {
      c.body.append(note('No stage sets are defined (`stages NAME { ... }` in a rules file).'));
      return;
    }
    const width = widthOf(c.body);
    for (const set of sets) {
      const total = set.stages.reduce((a, st) => a + st.size, 0);
      const rows = set.stages.map((st) => ({ label: st.name, title: `${set.key}.${st.name}: ${fmt.int(st.size)} people (${fmt.pct(ratio(st.size, total))})`, values: [st.size] }));
      c.body.append(
        h('h3', { text: `${set.key} (${fmt.int(total)} people)` }),
        barChart({ name: 'stages-' + set.key, label: `People in each stage of ${set.key} now`, rows, series: [{ color: COLORS[4] }], width, kind: 'int' }),
        table(['Stage', 'People', 'Share'], set.stages.map((st) => [st.name, fmt.int(st.size), fmt.pct(ratio(st.size, total))])),
      );
    }
  }

  // ---- loading -----------------------------------------------------------------

  const CARDS = ['headline', 'journeys', 'days', 'sizes', 'members', 'signals', 'stages'];

  /** Hides the cards, for when there is nothing to show at all. */
  function hideCards() {
    document.getElementById('cards').hidden = true;
    for (const id of CARDS) card(id).body.replaceChildren();
    for (const p of document.querySelectorAll('[data-method]')) p.textContent = '';
  }

  function setStatus(text, error) {
    const el = document.getElementById('status');
    el.textContent = text;
    el.className = error ? 'status error' : 'status';
  }

  /** Draws one card; a failure stays in that card. */
  function draw(id, fn) {
    const c = card(id);
    c.body.replaceChildren();
    c.el.setAttribute('aria-busy', 'false');
    try {
      fn(c);
    } catch (e) {
      c.body.replaceChildren(note(`This chart could not be drawn: ${e && e.message ? e.message : e}`, true));
    }
  }

  function render() {
    if (!loaded) return;
    document.getElementById('cards').hidden = false;
    const { report, segments, signals, stats } = loaded;
    const seg = segments.ok ? segments.value : null;
    const segError = segments.ok ? null : segments.error;
    for (const p of document.querySelectorAll('[data-method="report"]')) p.textContent = 'Attribution: ' + report.method + '.';
    const sigMethod = document.querySelector('[data-method="signals"]');
    sigMethod.textContent = signals.ok ? signals.value.method : '';
    draw('headline', (c) => drawHeadline(c, report, stats.ok ? stats.value : null));
    draw('journeys', (c) => drawJourneys(c, report));
    draw('days', (c) => drawDays(c, report));
    draw('sizes', (c) => drawSizes(c, report, seg, segError));
    draw('members', (c) => drawMembers(c, report, seg));
    draw('signals', (c) => (signals.ok ? drawSignals(c, signals.value, seg) : c.body.append(note(sentence(signals.error.message), true))));
    draw('stages', (c) => drawStages(c, seg, segError));
    drawnWidth = document.documentElement.clientWidth;
  }

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function api(path, key) {
    let r;
    try {
      r = await fetch(path, { headers: { Authorization: 'Bearer ' + key, Accept: 'application/json' }, cache: 'no-store', credentials: 'omit' });
    } catch (e) {
      throw new ApiError(0, `could not reach the server (${e && e.message ? e.message : e})`);
    }
    let body = null;
    try {
      body = await r.json();
    } catch (_) {
      // A body that is not JSON (a proxy's error page, say) is reported by status.
    }
    if (!r.ok) {
      const message = body && body.error && body.error.message ? body.error.message : `${r.status} ${r.statusText}`;
      throw new ApiError(r.status, message);
    }
    return body;
  }

  const settle = (p) => p.then((value) => ({ ok: true, value }), (error) => ({ ok: false, error }));

  async function load() {
    const key = getKey();
    const mine = ++generation;
    if (!key) {
      loaded = null;
      hideCards();
      setStatus('Paste the admin key above to load the dashboard (or open it as /dashboard#key=ADMIN_KEY).', true);
      document.getElementById('key').focus();
      return;
    }
    setStatus('Loading…');
    for (const id of CARDS) card(id).el.setAttribute('aria-busy', 'true');
    const win = document.getElementById('window').value;
    const [report, segments, signals, stats] = await Promise.all([
      settle(api('/api/report?window=' + encodeURIComponent(win), key)),
      settle(api('/api/segments', key)),
      settle(api('/api/signals', key)),
      settle(api('/api/stats', key)),
    ]);
    if (mine !== generation) return;
    if (!report.ok) {
      loaded = null;
      hideCards();
      const e = report.error;
      setStatus(e.status === 401 ? `The server refused the key (401: ${e.message}). Paste the admin key above.`
        : e.status === 403 ? `This key cannot read the admin API (403: ${e.message}). Paste the admin key above.`
        : e.status === 0 ? `Network error: ${e.message}. Check that the server is running, then press Load.`
        : `The report failed (${e.status}: ${e.message}).`, true);
      return;
    }
    loaded = { report: report.value, segments, signals, stats };
    render();
    const t = totals(report.value);
    const when = new Date().toISOString().slice(11, 19);
    setStatus(t.sent === 0
      ? `Loaded at ${when} UTC. No email sent yet.`
      : `Loaded at ${when} UTC; attribution window ${report.value.window}.`);
  }

  // ---- the key -------------------------------------------------------------------

  function getKey() {
    try {
      return sessionStorage.getItem(STORE) || memoryKey;
    } catch (_) {
      return memoryKey;
    }
  }

  function setKey(key) {
    memoryKey = key || null;
    try {
      if (key) sessionStorage.setItem(STORE, key);
      else sessionStorage.removeItem(STORE);
    } catch (_) {
      // Storage disabled: the key lives as long as the page.
    }
  }

  /** Takes `#key=...` into storage and out of the address bar and history. */
  function keyFromFragment() {
    const fragment = new URLSearchParams(location.hash.replace(/^#/, ''));
    const key = fragment.get('key');
    if (key === null) return false;
    setKey(key.trim());
    history.replaceState(null, '', location.pathname + location.search);
    return true;
  }

  function start() {
    keyFromFragment();
    const form = document.getElementById('key-form');
    const input = document.getElementById('key');
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      if (input.value.trim()) setKey(input.value.trim());
      input.value = '';
      load();
    });
    document.getElementById('window').addEventListener('change', () => load());
    document.getElementById('forget').addEventListener('click', () => {
      setKey(null);
      load();
    });
    window.addEventListener('hashchange', () => {
      if (keyFromFragment()) load();
    });
    let pending = 0;
    window.addEventListener('resize', () => {
      clearTimeout(pending);
      pending = setTimeout(() => {
        if (loaded && document.documentElement.clientWidth !== drawnWidth) render();
      }, 150);
    });
    load();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
