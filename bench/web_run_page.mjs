// A run page with FILES files (default 10,000: 20 directories) in headless
// Chromium against a real `cairn server`: time to first render (navigation to
// the first file rows) and to a filtered view (input to the filtered rows),
// beside the reference: the page's one JSON request (GET .../tree) alone.
// Usage: node bench/web_run_page.mjs BUILD [REPEATS=5] [FILES=10000]
import { createKey, createRun, launchBrowser, saveFile, startServer } from '../tests/web/harness.mjs';
import { resolve } from 'node:path';

const build = resolve(process.argv[2] || 'build');
const repeats = Number(process.argv[3] || 5);
const count = Number(process.argv[4] || 10000);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const server = await startServer(build);
const browser = await launchBrowser();
try {
  const key = await createKey(server, 'bench');
  await createRun(server, key, 'bench/web/many');
  const names = Array.from({ length: count }, (_, i) =>
    `shard-${String(i % 20).padStart(2, '0')}/part-${String(i).padStart(5, '0')}.bin`);
  for (let i = 0; i < names.length; i += 32) {
    await Promise.all(names.slice(i, i + 32).map((n) => saveFile(server, key, 'bench/web/many', n, n)));
  }
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 800 });
  await page.goto(server.url + '/', { waitUntil: 'networkidle0' });
  await page.type('#key', key);
  await page.keyboard.press('Enter');
  await page.waitForSelector('#entities');
  const url = `${server.url}/bench/web/runs/many`;
  const first = [];
  const filtered = [];
  const json = [];
  for (let r = 0; r < repeats; r++) {
    let t = performance.now();
    await page.goto(url);
    await page.waitForSelector('#files tbody tr');
    first.push(performance.now() - t);
    t = performance.now();
    await page.$eval('#file-filter', (el) => {
      el.value = 'part-0999';
      el.dispatchEvent(new Event('input', { bubbles: true }));
    });
    await page.waitForSelector('#match-count');
    filtered.push(performance.now() - t);
    t = performance.now();
    await page.evaluate(async () => (await fetch('/api/v1/runs/bench/web/many/tree')).json());
    json.push(performance.now() - t);
  }
  const f = (xs) => `${median(xs).toFixed(0)} ms`;
  console.log(`web run page, ${count} files, headless Chromium, median of ${repeats}: first render ${f(first)}, ` +
    `filtered view ${f(filtered)}; reference: its JSON request alone (GET .../tree + parse) ${f(json)}`);
} finally {
  await browser.close();
  await server.stop();
}
