// A Camet dashboard in one static page: log in, read the caller's layout,
// run it with POST /api/v1/dashboard/run, draw every widget in the layout's
// 12-column grid, and run it again every REFRESH_MS.
//
// Query parameters: api (the server's base URL; default this page's origin,
// the server must then list this page's origin in CAMET_CORS_ORIGINS when
// they differ), lang (es | en), refresh (milliseconds between runs).
'use strict';

const params = new URLSearchParams(window.location.search);
const API = (params.get('api') || window.location.origin).replace(/\/$/, '');
const LANG = params.get('lang') === 'en' ? 'en' : 'es';
const REFRESH_MS = Math.max(1000, Number(params.get('refresh')) || 30000);

// The stops of a production chart come as label-indexed ranges in
// options.plugins.camet_stops: {color, ranges: [{from, to, ...}]}. This
// plugin shades each from the left edge of label `from` to the right edge
// of label `to`, behind the line.
const cametStops = {
  id: 'camet_stops',
  beforeDatasetsDraw(chart, _args, opts) {
    const ranges = (opts && opts.ranges) || [];
    const x = chart.scales.x;
    if (!ranges.length || !x) return;
    const area = chart.chartArea;
    const count = chart.data.labels.length;
    const step = count > 1 ? Math.abs(x.getPixelForValue(1) - x.getPixelForValue(0)) : area.right - area.left;
    const ctx = chart.ctx;
    ctx.save();
    ctx.fillStyle = opts.color;
    for (const range of ranges) {
      const left = Math.max(area.left, x.getPixelForValue(range.from) - step / 2);
      const right = Math.min(area.right, x.getPixelForValue(range.to) + step / 2);
      ctx.fillRect(left, area.top, Math.max(1, right - left), area.bottom - area.top);
    }
    ctx.restore();
  },
};
Chart.register(cametStops);

let token = null;
let runs = 0;
let timer = null;
const cells = []; // per result index: {el, chart}

const grid = document.getElementById('grid');
const statusLine = document.getElementById('status');

function say(text) {
  statusLine.textContent = text;
}

async function api(method, path, body) {
  const headers = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(API + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = await response.json().catch(() => null);
  if (!response.ok) {
    const detail = (answer && (answer.detail || answer.title)) || response.statusText;
    const error = new Error(`${method} ${path}: ${response.status} ${detail}`);
    error.status = response.status;
    throw error;
  }
  return answer;
}

function place(el, layout) {
  if (!layout) return;
  el.style.gridColumn = `${layout.x + 1} / span ${layout.w}`;
  el.style.gridRow = `${layout.y + 1} / span ${layout.h}`;
}

function cellFor(index, widget) {
  let cell = cells[index];
  if (!cell) {
    const el = document.createElement('section');
    el.className = 'widget';
    el.innerHTML = '<h2></h2><div class="body"></div>';
    grid.appendChild(el);
    cell = { el, chart: null };
    cells[index] = cell;
  }
  cell.el.dataset.widgetId = widget.widget_id;
  cell.el.dataset.widgetType = widget.widget_type;
  cell.el.querySelector('h2').textContent = widget.widget_name;
  place(cell.el, widget.layout);
  return cell;
}

function body(cell) {
  return cell.el.querySelector('.body');
}

function dropChart(cell) {
  if (cell.chart) {
    cell.chart.destroy();
    cell.chart = null;
  }
}

function drawChart(cell, chart) {
  if (cell.chart && cell.chart.config.type === chart.type) {
    cell.chart.data = chart.data;
    cell.chart.options = chart.options;
    cell.chart.update('none');
    return;
  }
  dropChart(cell);
  body(cell).replaceChildren(document.createElement('canvas'));
  // The widget's chart object is a complete Chart.js configuration.
  cell.chart = new Chart(body(cell).querySelector('canvas'), chart);
}

function drawKpi(cell, data) {
  dropChart(cell);
  const value = data.value === null ? '—' : new Intl.NumberFormat(LANG, { maximumFractionDigits: 2 }).format(data.value);
  const box = document.createElement('div');
  box.className = 'kpi';
  const line = document.createElement('div');
  const number = document.createElement('span');
  number.className = 'value';
  number.textContent = value;
  const unit = document.createElement('span');
  unit.className = 'unit';
  unit.textContent = data.unit;
  line.append(number, unit);
  const label = document.createElement('div');
  label.textContent = data.label;
  box.append(line, label);
  body(cell).replaceChildren(box);
}

function drawTable(cell, data) {
  dropChart(cell);
  const table = document.createElement('table');
  const head = table.createTHead().insertRow();
  for (const column of data.columns) {
    const th = document.createElement('th');
    th.textContent = column.label;
    head.appendChild(th);
  }
  const rows = table.createTBody();
  for (const row of data.rows) {
    const tr = rows.insertRow();
    // Each column's key names the row field it shows.
    for (const column of data.columns) tr.insertCell().textContent = row[column.key];
  }
  const box = document.createElement('div');
  box.className = 'table';
  box.appendChild(table);
  body(cell).replaceChildren(box);
}

function drawError(cell, error) {
  dropChart(cell);
  const p = document.createElement('p');
  p.className = 'error';
  p.textContent = `${error.kind}: ${error.message}`;
  body(cell).replaceChildren(p);
}

function draw(widget, index) {
  const cell = cellFor(index, widget);
  if (widget.error) {
    drawError(cell, widget.error);
    cell.el.dataset.drawn = 'error';
  } else if (widget.chart) {
    drawChart(cell, widget.chart);
    cell.el.dataset.drawn = 'chart';
  } else if (widget.widget_type === 'kpi_card') {
    drawKpi(cell, widget.data);
    cell.el.dataset.drawn = 'kpi';
  } else if (widget.widget_type === 'table') {
    drawTable(cell, widget.data);
    cell.el.dataset.drawn = 'table';
  } else {
    drawError(cell, { kind: 'unsupported', message: `no drawing for ${widget.widget_type}` });
    cell.el.dataset.drawn = 'unsupported';
  }
}

async function refresh() {
  try {
    const run = await api('POST', `/api/v1/dashboard/run?lang=${LANG}`, { filters: {} });
    run.widgets.forEach(draw);
    while (cells.length > run.widgets.length) {
      const cell = cells.pop();
      dropChart(cell);
      cell.el.remove();
    }
    runs += 1;
    document.body.dataset.runs = String(runs);
    say(`${run.widgets.length} widgets, updated ${new Date().toLocaleTimeString(LANG)}`);
  } catch (error) {
    say(error.message);
    if (error.status === 401) {
      token = null;
      return; // log in again
    }
  }
  timer = setTimeout(refresh, REFRESH_MS);
}

async function start(username, password) {
  clearTimeout(timer);
  const login = await api('POST', '/api/v1/auth/login', { username, password });
  token = login.access_token;
  const layout = await api('GET', '/api/v1/dashboard/layout');
  document.body.dataset.layoutWidgets = String(layout.grid.length);
  say(`logged in; ${layout.grid.length} widgets in the layout`);
  await refresh();
}

document.getElementById('login').addEventListener('submit', (event) => {
  event.preventDefault();
  const form = event.target;
  start(form.username.value, form.password.value).catch((error) => say(error.message));
});
