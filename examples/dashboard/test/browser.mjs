// Drives the example dashboard in a real Chromium (playwright-core, the
// system's browser) against a running Camet, and fails unless every widget
// of the caller's layout drew: charts with non-blank canvases, KPI cards
// with a value, the table with its rows; no console error, no page error;
// and the page refreshed at least once by polling. Saves a screenshot.
//
// Environment: CAMET_URL (the API), PAGE_URL (this folder served over
// HTTP), CAMET_USERNAME, CAMET_PASSWORD, CHROMIUM (default
// /usr/bin/chromium), SCREENSHOT (path of the PNG), TEST_TIMEOUT_MS
// (every wait; default 60000).
import { chromium } from 'playwright-core';

const env = (name, fallback) => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};
const api = env('CAMET_URL');
const page_url = env('PAGE_URL');
const username = env('CAMET_USERNAME');
const password = env('CAMET_PASSWORD');
const screenshot = env('SCREENSHOT', 'dashboard-screenshot.png');
const timeout = Number(env('TEST_TIMEOUT_MS', '60000'));

// The oracle of how many widgets must appear: the layout, read here over the API.
async function layoutSize() {
  const post = await fetch(`${api}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
    signal: AbortSignal.timeout(timeout),
  });
  if (!post.ok) throw new Error(`login: ${post.status}`);
  const { access_token: token } = await post.json();
  const layout = await fetch(`${api}/api/v1/dashboard/layout`, {
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(timeout),
  });
  if (!layout.ok) throw new Error(`layout: ${layout.status}`);
  return (await layout.json()).grid.length;
}

const failures = [];
const expected = await layoutSize();
if (expected < 1) failures.push('the layout has no widget');

const browser = await chromium.launch({
  executablePath: env('CHROMIUM', '/usr/bin/chromium'),
  headless: true,
  // Root in CI: Chromium's sandbox needs an unprivileged user.
  args: ['--no-sandbox'],
  timeout,
});
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.setDefaultTimeout(timeout);
  const consoleErrors = [];
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => consoleErrors.push(`page error: ${error.message}`));
  page.on('requestfailed', (request) => consoleErrors.push(`request failed: ${request.url()}`));

  const query = new URLSearchParams({ api, refresh: '1500' });
  await page.goto(`${page_url}/index.html?${query}`);
  await page.fill('#username', username);
  await page.fill('#password', password);
  await page.click('button[type=submit]');

  // Two runs: the first draw, then one refresh by polling redrawing in place.
  await page.waitForFunction(() => Number(document.body.dataset.runs || 0) >= 2, null, { timeout });

  const widgets = await page.$$eval('.widget', (els) =>
    els.map((el) => ({
      id: el.dataset.widgetId,
      type: el.dataset.widgetType,
      drawn: el.dataset.drawn,
      text: el.querySelector('.body').innerText,
    })),
  );
  if (widgets.length !== expected) failures.push(`${widgets.length} widgets drawn, the layout has ${expected}`);
  for (const w of widgets) {
    if (!['chart', 'kpi', 'table'].includes(w.drawn)) failures.push(`widget ${w.id} (${w.type}): ${w.drawn}: ${w.text}`);
    if (w.drawn === 'kpi' && !/\d/.test(w.text)) failures.push(`KPI card ${w.id} shows no number: ${w.text}`);
    if (w.drawn === 'table' && !w.text.trim()) failures.push(`table ${w.id} is empty`);
  }

  // Every chart's canvas holds drawn pixels (waits out the first animation).
  const charts = widgets.filter((w) => w.drawn === 'chart').length;
  if (charts < 1) failures.push('no chart was drawn');
  await page
    .waitForFunction(
      () =>
        [...document.querySelectorAll('.widget canvas')].every((canvas) => {
          const { width, height } = canvas;
          if (!width || !height) return false;
          const pixels = canvas.getContext('2d').getImageData(0, 0, width, height).data;
          let painted = 0;
          for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) painted += 1;
          return painted > (width * height) / 100;
        }),
      null,
      { timeout },
    )
    .catch(() => failures.push('a chart canvas stayed blank (under 1% of its pixels painted)'));
  const canvases = await page.$$eval('.widget canvas', (els) => els.length);
  if (canvases !== charts) failures.push(`${canvases} canvases for ${charts} charts`);

  await page.screenshot({ path: screenshot, fullPage: true });
  failures.push(...consoleErrors.map((e) => `console: ${e}`));
  console.log(`dashboard: ${widgets.length}/${expected} widgets (${charts} charts) drawn; screenshot ${screenshot}`);
} finally {
  await browser.close();
}

if (failures.length) {
  for (const failure of failures) console.error(`FAIL: ${failure}`);
  process.exit(1);
}
console.log('browser test: ok');
