// The web UI's security steps (ui_test.mjs): headers, CSRF, sign-out.
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { startServer } from './harness.mjs';

export async function checkSecurity({ build, server, page, step, alice }) {
  await step('page weight under 200 KB compressed', async () => {
    let total = 0;
    for (const path of ['/', '/assets/app.js', '/assets/app.css']) {
      const res = await fetch(server.url + path);
      assert.equal(res.status, 200, path);
      total += gzipSync(Buffer.from(await res.arrayBuffer()), { level: 9 }).length;
    }
    assert.ok(total < 200 * 1024, `${total} bytes gzipped`);
    console.log(`# page weight: ${total} bytes gzipped`);
  });

  await step('CSP without inline script, cookie flags', async () => {
    const res = await fetch(server.url + '/alice');
    const csp = res.headers.get('content-security-policy');
    assert.match(csp, /script-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline/);
    const html = await res.text();
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)/, 'no inline script in the page');
    const form = await fetch(server.url + '/api/v1/session', { method: 'POST', body: JSON.stringify({ key: alice }) });
    assert.equal(form.status, 403, 'sign-in without X-Cairn-Csrf (a cross-site form)');
    const signin = await fetch(server.url + '/api/v1/session',
      { method: 'POST', headers: { 'X-Cairn-Csrf': '1' }, body: JSON.stringify({ key: alice }) });
    const cookie = signin.headers.get('set-cookie');
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Strict/);
    assert.doesNotMatch(cookie, /Secure/, 'no Secure over plain HTTP');
    const bad = await fetch(server.url + '/api/v1/session',
      { method: 'POST', headers: { 'X-Cairn-Csrf': '1' }, body: JSON.stringify({ key: 'nope' }) });
    assert.equal(bad.status, 401);
  });

  await step('state-changing requests need the CSRF token; sign-out ends the session', async () => {
    await page.goto(server.url + '/', { waitUntil: 'networkidle0' });
    const c = (await page.cookies()).find((x) => x.name === 'cairn_session');
    const cookie = `cairn_session=${c.value}`;
    const forged = await fetch(server.url + '/api/v1/session', { method: 'DELETE', headers: { Cookie: cookie } });
    assert.equal(forged.status, 403, 'DELETE without X-Cairn-Csrf');
    const put = await fetch(server.url + '/api/v1/runs/alice/mnist/forged', {
      method: 'PUT', headers: { Cookie: cookie, 'X-Cairn-Csrf': 'wrong' }, body: '{}' });
    assert.equal(put.status, 403, 'PUT with a wrong token');
    const ok = await fetch(server.url + '/api/v1/session', { headers: { Cookie: cookie } });
    assert.equal(ok.status, 200, 'the session still works');
    // Another replica on the same store knows the session.
    const replica = await startServer(build, { dir: server.dir, keep: true });
    try {
      const there = await fetch(replica.url + '/api/v1/runs/alice/mnist/run-2/tree', { headers: { Cookie: cookie } });
      assert.equal(there.status, 200, 'the session works on another replica');
    } finally {
      await replica.stop();
    }
    await page.click('#sign-out');
    await page.waitForSelector('#key');
    const after = await fetch(server.url + '/api/v1/session', { headers: { Cookie: cookie } });
    assert.equal(after.status, 401, 'the old cookie is refused after sign-out');
    const files = await fetch(server.url + '/api/v1/runs/alice/mnist/run-2/files', { headers: { Cookie: cookie } });
    assert.equal(files.status, 401);
    // Signed in again for the steps after this one.
    await page.type('#key', alice);
    await page.keyboard.press('Enter');
    await page.waitForSelector('#entities');
  });
}
