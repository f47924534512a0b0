// Browser tests of the web UI (docs/adr/0023-web-ui.md) against a real
// `cairn server`, in headless Debian Chromium (CDP) or Firefox ESR (WebDriver
// BiDi). Usage: node ui_test.mjs BUILD [chromium|firefox] (default chromium).
// Screenshots of every page go to BUILD/web-screenshots/BROWSER/ (CI artifacts).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { api, browsers, createKey, createRun, launchBrowser, saveFile, sha256, startServer } from './harness.mjs';
import { checkSecurity } from './security_checks.mjs';
import { checkTls } from './tls_checks.mjs';

const build = resolve(process.argv[2] || 'build');
const kind = process.argv[3] || 'chromium';
if (!browsers.includes(kind)) throw new Error(`unknown browser ${kind}: use ${browsers.join(' or ')}`);
const shots = join(build, 'web-screenshots', kind);
mkdirSync(shots, { recursive: true });
const kXssName = '<img src=x onerror=alert(1)>.txt';
const kOddName = `données/"q" & it's ü 100%.csv`;

const server = await startServer(build);
const downloads = join(server.dir, 'downloads');
mkdirSync(downloads);
const browser = await launchBrowser({ kind });
const steps = [];
const step = async (name, fn) => {
  const t = Date.now();
  await fn();
  steps.push(`${name} (${Date.now() - t} ms)`);
  console.log(`ok - ${kind}: ${name}`);
};

try {
  const alice = await createKey(server, 'alice');
  const bob = await createKey(server, 'bob');
  await createRun(server, alice, 'alice/mnist/run-1');
  await createRun(server, alice, 'alice/mnist/run-2');
  await createRun(server, alice, 'alice/mnist/run-3');
  await saveFile(server, alice, 'alice/mnist/run-2', 'config.yaml', 'lr: 0.1\nbatch: 32\nepochs: 10\n');
  await saveFile(server, alice, 'alice/mnist/run-2', 'config.yaml', 'lr: 0.01\nbatch: 32\nepochs: 20\n');
  await saveFile(server, alice, 'alice/mnist/run-2', 'ckpt/model-0001.pt', Buffer.alloc(70000, 7));
  await saveFile(server, alice, 'alice/mnist/run-2', 'ckpt/model-0002.pt', Buffer.alloc(90000, 9));
  await saveFile(server, alice, 'alice/mnist/run-2', 'metrics.json', '{"acc":0.98,"loss":[0.5,0.2]}');
  await saveFile(server, alice, 'alice/mnist/run-2', kXssName, 'not a script\n');
  await saveFile(server, alice, 'alice/mnist/run-3', kOddName, 'a,b\n1,2\n');
  await createRun(server, bob, 'bob/secret/run-b');
  await saveFile(server, bob, 'bob/secret/run-b', 'bob.txt', 'bob only\n');

  // Downloads are saved to `downloads` by the name the browser chose.
  const ctx = await browser.createBrowserContext({ downloadBehavior: { policy: 'allow', downloadPath: downloads } });
  const page = await ctx.newPage();
  await page.setViewport({ width: 1280, height: 800 });
  const dialogs = [];
  page.on('dialog', async (d) => { dialogs.push(d.message()); await d.dismiss(); });
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  // Chromium wants the clipboard permissions granted; Firefox has no such
  // permissions (its BiDi refuses the names): it allows a write from a click
  // and a read of what this same page wrote.
  if (kind === 'chromium') {
    await ctx.overridePermissions(server.url, ['clipboard-read', 'clipboard-write', 'clipboard-sanitized-write']);
  }
  const shot = (name) => page.screenshot({ path: join(shots, `${name}.png`) });
  const text = (sel) => page.$eval(sel, (el) => el.textContent);

  await step('sign in with an API key', async () => {
    await page.goto(server.url + '/', { waitUntil: 'networkidle0' });
    await page.waitForSelector('#key');
    await shot('signin');
    await page.type('#key', alice);
    await page.keyboard.press('Enter');  // keyboard only
    await page.waitForSelector('#entities');
    const cookies = await page.cookies();
    const c = cookies.find((x) => x.name === 'cairn_session');
    assert.ok(c && c.httpOnly && c.sameSite === 'Strict', 'session cookie HttpOnly + SameSite=Strict');
    assert.ok(!(await page.evaluate(() => document.cookie)).includes('cairn_session'), 'cookie hidden from JS');
    assert.equal(await page.evaluate(() => localStorage.length + sessionStorage.length), 0);
    assert.ok(!page.url().includes(alice));
    await shot('entities');
  });

  await step('walk entity -> project -> run -> file', async () => {
    const entities = await page.$$eval('#entities a', (as) => as.map((a) => a.textContent));
    assert.deepEqual(entities, ['alice'], 'an entity key sees its own entity only');
    await page.click('#entities a');
    await page.waitForSelector('#projects a');
    await shot('projects');
    await page.click('#projects a');
    await page.waitForSelector('#runs tbody tr');
    const runs = await page.$$eval('#runs tbody tr td:first-child', (tds) => tds.map((t) => t.textContent));
    assert.deepEqual(runs, ['run-3', 'run-2', 'run-1'], 'newest first');
    const files = await page.$eval('#runs tbody tr:nth-child(2)', (tr) => tr.children[4].textContent);
    assert.equal(files, '5');
    await page.type('#run-filter', '-1');
    await page.waitForFunction(() => document.querySelectorAll('#runs tbody tr').length === 1);
    await shot('runs');
    await page.$eval('#run-filter', (el) => { el.value = ''; });
    await page.goto(`${server.url}/alice/mnist/runs/run-2`, { waitUntil: 'networkidle0' });
    await page.waitForSelector('#files tbody tr');
    await page.click('#files button.toggle');  // open ckpt/
    await page.waitForFunction(() => document.querySelectorAll('#files tbody tr').length === 6);
    await shot('run');
    await page.click('#files a[href$="config.yaml"]');
    await page.waitForSelector('#versions tbody tr');
    assert.equal((await page.$$('#versions tbody tr')).length, 2);
    const savers = await page.$$eval('#versions td.saved-by', (tds) => tds.map((t) => t.textContent));
    assert.deepEqual(savers, ['alice/default (service account)', 'alice/default (service account)'], 'who saved it');
    await page.waitForSelector('#diff');
    await shot('file');
  });

  await step('keyboard: Tab reaches a link with a visible focus ring, Enter follows it', async () => {
    await page.goto(`${server.url}/alice/mnist`, { waitUntil: 'networkidle0' });
    await page.waitForSelector('#runs tbody tr');
    await page.focus('#run-filter');
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => {
      const el = document.activeElement;
      return { text: el.textContent, outline: getComputedStyle(el).outlineStyle };
    });
    assert.equal(focused.text, 'run-3');
    assert.notEqual(focused.outline, 'none', 'focus is visible');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#files tbody tr');
    assert.ok(page.url().endsWith('/alice/mnist/runs/run-3'));
  });

  await step('preview and diff', async () => {
    await page.goto(`${server.url}/alice/mnist/runs/run-2/files/config.yaml`, { waitUntil: 'networkidle0' });
    await page.waitForSelector('#diff');
    await page.waitForSelector('#preview');
    assert.match(await text('#preview'), /lr: 0\.01/);
    const diff = await text('#diff');
    assert.match(diff, /- lr: 0\.1\n/);
    assert.match(diff, /\+ lr: 0\.01\n/);
    assert.match(diff, /\+ epochs: 20/);
    await page.goto(`${server.url}/alice/mnist/runs/run-2/files/metrics.json`, { waitUntil: 'networkidle0' });
    await page.waitForSelector('#preview');
    assert.match(await text('#preview'), /"acc": 0\.98/);  // pretty-printed JSON
  });

  await step('download version 1 and compare its SHA-256', async () => {
    await page.goto(`${server.url}/alice/mnist/runs/run-2/files/config.yaml`, { waitUntil: 'networkidle0' });
    const dir = downloads;  // the browser context's download folder
    const want = await page.$eval('#versions tbody tr', (tr) => tr.querySelector('code.sha').textContent);
    await page.click('#download-1');
    const file = join(dir, 'config.yaml');
    for (let i = 0; i < 100 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(readdirSync(dir), ['config.yaml'], 'downloaded with the file name');
    assert.equal(sha256(readFileSync(file)), want);
    assert.equal(readFileSync(file, 'utf8'), 'lr: 0.1\nbatch: 32\nepochs: 10\n');
  });

  await step('copy the restore command and run it', async () => {
    await page.click('#versions tbody tr:first-child button');  // select version 1
    await page.waitForFunction(() => document.querySelector('#restore-cli').textContent.includes('--version 1'));
    await page.click('#restore-cli + button');
    const cmd = await page.evaluate(() => navigator.clipboard.readText());
    assert.equal(cmd, await text('#restore-cli'));
    assert.match(cmd, /^cairn restore config\.yaml --run http:\/\/127\.0\.0\.1:\d+\/alice\/mnist\/runs\/run-2 --version 1$/);
    assert.match(await text('#restore-py'), /^cairn\.restore\("config\.yaml", run_path="alice\/mnist\/run-2", version=1\)$/);
    const root = join(server.dir, 'restore');
    mkdirSync(root);
    execFileSync('bash', ['-c', cmd], {
      cwd: root,
      env: { ...process.env, PATH: `${join(build, 'bin')}:${process.env.PATH}`, CAIRN_BASE_URL: server.url,
             CAIRN_API_KEY: alice, HOME: server.dir, XDG_CACHE_HOME: join(server.dir, 'cache') },
      stdio: 'pipe',
    });
    assert.equal(readFileSync(join(root, 'config.yaml'), 'utf8'), 'lr: 0.1\nbatch: 32\nepochs: 10\n');
  });

  await step('a file named like HTML is shown as text, no script runs', async () => {
    await page.goto(`${server.url}/alice/mnist/runs/run-2`, { waitUntil: 'networkidle0' });
    await page.waitForSelector('#files tbody tr');
    const names = await page.$$eval('#files a', (as) => as.map((a) => a.textContent));
    assert.ok(names.includes(kXssName), names.join(','));
    await page.type('#file-filter', 'onerror');
    await page.waitForSelector('#match-count');
    await page.click('#files a');
    await page.waitForSelector('#preview');
    assert.equal(await text('h1.filename'), kXssName);
    assert.equal(await page.$$eval('img', (imgs) => imgs.filter((i) => i.getAttribute('src') === 'x').length), 0);
    await shot('file-html-name');
    assert.deepEqual(dialogs, [], 'no alert ran');
  });

  await step('runs are paginated: 50 a page, Older and Newer', async () => {
    for (let i = 0; i < 52; i++) await createRun(server, alice, `alice/many/r${String(i).padStart(2, '0')}`);
    await page.goto(`${server.url}/alice/many`, { waitUntil: 'networkidle0' });
    await page.waitForSelector('#runs tbody tr');
    const firstPage = await page.$$eval('#runs tbody tr td:first-child', (tds) => tds.map((t) => t.textContent));
    assert.equal(firstPage.length, 50);
    assert.equal(firstPage[0], 'r51');
    await page.click('#older');
    await page.waitForFunction(() => document.querySelectorAll('#runs tbody tr').length === 2);
    const second = await page.$$eval('#runs tbody tr td:first-child', (tds) => tds.map((t) => t.textContent));
    assert.deepEqual(second, ['r01', 'r00']);
    assert.ok(await page.$eval('#older', (b) => b.disabled));
  });

  await step('unicode, quotes, & and % in a name: shown, previewed, restored by the copied command', async () => {
    await page.goto(`${server.url}/alice/mnist/runs/run-3`, { waitUntil: 'networkidle0' });
    await page.waitForSelector('#files button.toggle');
    assert.equal(await text('#files button.toggle'), '▸ données/');
    await page.click('#files button.toggle');
    await page.waitForSelector('#files a');
    assert.equal(await text('#files a'), `"q" & it's ü 100%.csv`);
    await page.click('#files a');
    await page.waitForSelector('#preview');
    assert.equal(await text('h1.filename'), kOddName);
    assert.equal(await text('#preview'), 'a,b\n1,2\n');
    const root = join(server.dir, 'restore-odd');
    mkdirSync(root);
    execFileSync('bash', ['-c', await text('#restore-cli')], { cwd: root, stdio: 'pipe',
      env: { ...process.env, PATH: `${join(build, 'bin')}:${process.env.PATH}`, CAIRN_BASE_URL: server.url,
             CAIRN_API_KEY: alice, HOME: server.dir, XDG_CACHE_HOME: join(server.dir, 'cache') } });
    assert.equal(readFileSync(join(root, kOddName), 'utf8'), 'a,b\n1,2\n');
  });

  await step('an entity key does not see another entity', async () => {
    await page.goto(`${server.url}/bob/secret`, { waitUntil: 'networkidle0' });
    await page.waitForSelector('.error');
    assert.match(await text('.error'), /may not access entity bob/);
    assert.ok(!(await page.content()).includes('run-b'));
  });

  await step('a team viewer signs in with user + password: sees the team, not another team', async () => {
    const admin = (method, path, body) => api(server.url, server.adminKey, method, path, JSON.stringify(body));
    await admin('POST', '/api/v1/users', { name: 'dana', password: 'dana-pass-1234' });
    await admin('POST', '/api/v1/teams', { name: 'vision' });
    await admin('POST', '/api/v1/teams', { name: 'audio' });
    await admin('PUT', '/api/v1/teams/vision/members/dana', { role: 'viewer' });
    const vision = await createKey(server, 'vision');
    const audio = await createKey(server, 'audio');
    await createRun(server, vision, 'vision/det/run-v');
    await saveFile(server, vision, 'vision/det/run-v', 'v.txt', 'vision\n');
    await createRun(server, audio, 'audio/asr/run-a');
    const ctx2 = await browser.createBrowserContext();
    const p2 = await ctx2.newPage();
    try {
      await p2.goto(server.url + '/', { waitUntil: 'networkidle0' });
      await p2.type('#user', 'dana');
      await p2.type('#password', 'wrong-password');
      await p2.click('#signin-user button');
      await p2.waitForSelector('#signin-user .error');
      await p2.$eval('#password', (el) => { el.value = ''; });
      await p2.type('#password', 'dana-pass-1234');
      await p2.click('#signin-user button');
      await p2.waitForSelector('#entities');
      const seen = await p2.$$eval('#entities a', (as) => as.map((a) => a.textContent));
      assert.ok(seen.includes('vision') && !seen.includes('audio'), `dana sees ${seen}`);
      await p2.goto(`${server.url}/vision/det/runs/run-v`, { waitUntil: 'networkidle0' });
      await p2.waitForFunction(() => document.body.textContent.includes('v.txt'));
      await p2.goto(`${server.url}/audio/asr`, { waitUntil: 'networkidle0' });
      await p2.waitForSelector('.error');
      assert.ok(!(await p2.content()).includes('run-a'));
      // Her keys: create a read key, see it listed, revoke it from its row.
      await p2.goto(`${server.url}/~/keys`, { waitUntil: 'networkidle0' });
      await p2.waitForSelector('#keys');
      await p2.type('#key-name', 'laptop');
      await p2.select('#key-scope', 'read');
      await p2.type('#key-days', '30');
      await p2.click('#create-key button');
      await p2.waitForSelector('#new-key');
      const laptop = await p2.$eval('#new-key', (el) => el.textContent);
      const whoami = (k) => fetch(`${server.url}/api/v1/whoami`, { headers: { Authorization: `Bearer ${k}` } });
      const me = await (await whoami(laptop)).json();
      assert.ok(me.user === 'dana' && me.read_only === true, JSON.stringify(me));
      const id = (await api(server.url, laptop, 'GET', '/api/v1/keys')).keys.find((k) => k.name === 'laptop').id;
      await p2.waitForFunction((i) => [...document.querySelectorAll('#keys td')].some((td) => td.textContent === 'laptop')
        && document.querySelector(`button.revoke[data-id="${i}"]`), {}, id);
      const listed = await p2.$$eval('#keys tbody tr', (rows) => rows.map((r) => r.textContent));
      assert.ok(!listed.join('\n').includes(laptop), 'a listing never shows a secret');
      await p2.screenshot({ path: join(shots, 'keys-user.png') });
      await p2.click(`button.revoke[data-id="${id}"]`);
      await p2.waitForFunction((i) => !document.querySelector(`button.revoke[data-id="${i}"]`), {}, id);
      assert.equal((await whoami(laptop)).status, 401, 'the revoked key is refused');
      const cookie = (await p2.cookies()).find((c) => c.name === 'cairn_session');
      await p2.goto(server.url + '/', { waitUntil: 'networkidle0' });
      await p2.click('#sign-out');
      await p2.waitForSelector('#user');
      const after = await fetch(`${server.url}/api/v1/session`, { headers: { Cookie: `cairn_session=${cookie.value}` } });
      assert.equal(after.status, 401, 'the signed-out session is gone');
      const keys = await api(server.url, server.adminKey, 'GET', '/api/v1/keys');
      const web = (keys.keys || keys).filter((k) => k.name === 'web session');
      assert.ok(web.length === 1 && web[0].revoked_at, `the session's own key is revoked: ${JSON.stringify(web)}`);
    } finally {
      await ctx2.close();
    }
  });

  await step('a team admin changes a role, adds and removes a member, reads the audit log', async () => {
    const admin = (method, path, body) => api(server.url, server.adminKey, method, path, JSON.stringify(body));
    await admin('POST', '/api/v1/users', { name: 'tess', password: 'tess-pass-1234' });
    await admin('POST', '/api/v1/users', { name: 'ulf', password: 'ulf-pass-12345' });
    await admin('PUT', '/api/v1/teams/vision/members/tess', { role: 'admin' });
    const ctx3 = await browser.createBrowserContext();
    const p3 = await ctx3.newPage();
    try {
      await p3.goto(server.url + '/', { waitUntil: 'networkidle0' });
      await p3.type('#user', 'tess');
      await p3.type('#password', 'tess-pass-1234');
      await p3.click('#signin-user button');
      await p3.waitForSelector('#entities');
      await p3.click('a[href="/~/teams"]');
      await p3.waitForSelector('section.team[data-team="vision"] form.add-member');
      assert.equal(await p3.$('section.team[data-team="audio"] form.add-member'), null, 'not an admin of audio');
      await p3.select('#role-dana', 'member');
      const roleOf = async (u) => (await api(server.url, server.adminKey, 'GET', '/api/v1/teams')).teams
        .find((t) => t.name === 'vision').members.find((m) => m.user === u)?.role;
      for (let i = 0; i < 50 && (await roleOf('dana')) !== 'member'; i++) await new Promise((r) => setTimeout(r, 100));
      assert.equal(await roleOf('dana'), 'member');
      await p3.type('section.team[data-team="vision"] form.add-member input[name="user"]', 'ulf');
      await p3.click('section.team[data-team="vision"] form.add-member button');
      await p3.waitForSelector('#role-ulf');
      assert.equal(await roleOf('ulf'), 'viewer');
      await p3.$$eval('section.team[data-team="vision"] tr', (rows) => rows.find((r) => r.textContent.startsWith('ulf'))
        .querySelector('button').click());
      await p3.waitForFunction(() => !document.querySelector('#role-ulf'));
      assert.equal(await roleOf('ulf'), undefined);
      await p3.reload({ waitUntil: 'networkidle0' });
      await p3.waitForFunction(() => [...document.querySelectorAll('table.audit td')].some((td) => td.textContent === 'member.remove'));
      await p3.screenshot({ path: join(shots, 'teams.png') });
    } finally {
      await ctx3.close();
    }
  });

  await checkSecurity({ build, server, page, step, alice });

  await step('phone-sized window', async () => {
    await page.setViewport({ width: 390, height: 844 });
    await page.goto(`${server.url}/alice/mnist/runs/run-2/files/config.yaml`, { waitUntil: 'networkidle0' });
    await page.waitForSelector('#versions');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `no horizontal scroll on a phone (${overflow}px)`);
    await shot('file-phone');
    await page.setViewport({ width: 1280, height: 800 });
  });

  await step('admin creates a key in the keys page', async () => {
    await page.goto(server.url + '/', { waitUntil: 'networkidle0' });
    await page.click('#sign-out');
    await page.waitForSelector('#key');
    await page.type('#key', server.adminKey);
    await page.keyboard.press('Enter');
    await page.waitForSelector('#entities');
    const all = await page.$$eval('#entities a', (as) => as.map((a) => a.textContent));
    assert.deepEqual(all, ['alice', 'audio', 'bob', 'vision'], 'the admin sees every entity');
    await page.click('a[href="/~/keys"]');
    await page.type('#key-entity', 'carol');
    await page.click('#create-key button');
    await page.waitForSelector('#new-key');
    const key = await text('#new-key');
    const who = await (await fetch(`${server.url}/api/v1/whoami`, { headers: { Authorization: `Bearer ${key}` } })).json();
    assert.equal(who.entity, 'carol');
    await shot('keys');
  });

  await checkTls({ build, step, kind });
  assert.deepEqual(pageErrors, [], 'no script errors');
  console.log(`web UI tests passed in ${kind}: ${steps.length} steps; screenshots in ${shots}`);
} finally {
  await browser.close();
  await server.stop();
}
