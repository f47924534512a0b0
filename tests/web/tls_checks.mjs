// The web UI over TLS (ui_test.mjs): the same port serves it over HTTPS and
// the session cookie is Secure. A throwaway self-signed certificate.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchBrowser, startServer } from './harness.mjs';

export async function checkTls({ build, step, kind }) {
  await step('over TLS: the UI on the same port, the session cookie Secure', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cairn-web-tls-'));
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert], { stdio: 'pipe' });
    const server = await startServer(build, { args: ['--tls-cert', cert, '--tls-key', key], dir });
    const browser = await launchBrowser({ kind, insecureCerts: true });
    try {
      assert.match(server.url, /^https:/);
      const page = await browser.newPage();
      await page.goto(server.url + '/', { waitUntil: 'networkidle0' });
      await page.waitForSelector('#key');
      await page.type('#key', server.adminKey);
      await page.keyboard.press('Enter');
      await page.waitForSelector('#entities');
      const c = (await page.cookies()).find((x) => x.name === 'cairn_session');
      assert.ok(c && c.secure && c.httpOnly && c.sameSite === 'Strict', JSON.stringify(c));
    } finally {
      await browser.close();
      await server.stop();
    }
  });
}
