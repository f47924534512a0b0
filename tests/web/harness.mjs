// What the browser tests and the web bench share: a real `cairn server` on a
// free loopback port, data seeded through the HTTP API, and headless
// Debian Chromium driven by puppeteer-core (from web/node_modules).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const require = createRequire(join(repo, 'web/package.json'));
export const puppeteer = require('puppeteer-core');

export const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

// Starts `cairn server` from BUILD/bin (with `args` besides --data and
// --listen) on data in DIR/data, DIR a new temporary directory unless given;
// resolves {url, adminKey, dir, stop}. stop() removes DIR unless `keep`.
export async function startServer(build, { args = [], dir = mkdtempSync(join(tmpdir(), 'cairn-web-')), keep = false } = {}) {
  const adminKey = 'cairn-webtestadmin0123456789abcdefghijklmnopq';
  const bin = join(build, 'bin/cairn');
  const proc = spawn(bin, ['server', '--data', join(dir, 'data'), '--listen', '127.0.0.1:0', ...args], {
    env: { ...process.env, CAIRN_ADMIN_KEY: adminKey },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  proc.stderr.on('data', (d) => { log += d; });
  const url = await new Promise((res, rej) => {
    let out = '';
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on (http\S+)/);
      if (m) res(m[1]);
    });
    proc.on('exit', (code) => rej(new Error(`cairn server exited (${code}): ${log}`)));
    setTimeout(() => rej(new Error(`cairn server did not start: ${log}`)), 20000);
  });
  const stop = async () => {
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
    if (!keep) rmSync(dir, { recursive: true, force: true });
  };
  return { url, adminKey, dir, bin, stop, log: () => log };
}

export async function api(base, key, method, path, body, headers = {}) {
  const res = await fetch(base + path, {
    method,
    headers: { Authorization: `Bearer ${key}`, ...headers },
    body,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : {};
}

export async function createKey(server, entity, readOnly = false) {
  const k = await api(server.url, server.adminKey, 'POST', '/api/v1/keys',
    JSON.stringify({ entity, read_only: readOnly }));
  return k.key;
}

export const encodeName = (name) => name.split('/').map(encodeURIComponent).join('/');

export async function createRun(server, key, runPath) {
  await api(server.url, key, 'PUT', `/api/v1/runs/${runPath}`, JSON.stringify({ resume: 'allow' }));
}

// Saves one version of `name` in run "e/p/r".
export async function saveFile(server, key, runPath, name, content) {
  const buf = Buffer.from(content);
  await api(server.url, key, 'PUT', `/api/v1/runs/${runPath}/files/${encodeName(name)}`, buf,
    { 'X-Cairn-Sha256': sha256(buf), 'Content-Type': 'application/octet-stream' });
}

// The browsers the tests run in: Debian's chromium (over CDP) and
// firefox-esr (over WebDriver BiDi), both from apt, none downloaded.
export const browsers = ['chromium', 'firefox'];

// Launches headless `kind` ('chromium' or 'firefox'); `insecureCerts` accepts
// a self-signed certificate. (Downloads: a browser context's option,
// createBrowserContext({downloadBehavior}), the one both protocols honour.)
export async function launchBrowser({ kind = 'chromium', insecureCerts = false } = {}) {
  const common = { headless: true, acceptInsecureCerts: insecureCerts };
  if (kind === 'firefox') {
    return puppeteer.launch({
      ...common,
      browser: 'firefox',
      executablePath: process.env.CAIRN_FIREFOX || '/usr/bin/firefox-esr',
    });
  }
  if (kind !== 'chromium') throw new Error(`unknown browser ${kind}: use ${browsers.join(' or ')}`);
  return puppeteer.launch({
    ...common,
    executablePath: process.env.CAIRN_CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
}
