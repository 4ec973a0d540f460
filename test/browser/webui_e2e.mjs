// The reviewer UI in a real headless Chromium (Debian's, driven by playwright-core): log in,
// see the dashboard chart, open a quarantined item, release it with a reason, find the release
// in the audit log, search the archive and replay a conversation. A screenshot of every page
// goes to SCREENSHOT_DIR. Any JavaScript dialog (an archived alert(1) payload running) fails
// the test, and so does any Content-Security-Policy violation the page reports.
//
//   node webui_e2e.mjs SERVER_BINARY SCREENSHOT_DIR

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [serverBinary, shots] = process.argv.slice(2);
if (!serverBinary || !shots) {
  console.error('usage: node webui_e2e.mjs SERVER_BINARY SCREENSHOT_DIR');
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
const work = mkdtempSync(join(tmpdir(), 'imcap-webui-e2e-'));
const password = 'browser test password 1';
const ready = join(work, 'ready');

function check(cond, what) {
  if (!cond) throw new Error(`FAILED: ${what}`);
  console.log(`ok: ${what}`);
}

const server = spawn(serverBinary, [join(work, 'archive'), password, ready], {
  stdio: ['ignore', 'inherit', 'inherit'],
});
let serverExited = false;
server.on('exit', () => { serverExited = true; });
server.on('error', (e) => { console.error(`cannot start ${serverBinary}: ${e.message}`); serverExited = true; });

async function waitForReady() {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (existsSync(ready)) return readFileSync(ready, 'utf8').trim();
    if (serverExited) throw new Error('the test server exited before it was ready');
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('the test server did not become ready within 30 s');
}

let browser;
let failed = false;
try {
  const base = await waitForReady();
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
    timeout: 60_000,
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(20_000);
  const dialogs = [];
  page.on('dialog', async (d) => { dialogs.push(d.message()); await d.dismiss(); });
  const cspViolations = [];
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
  });
  const shot = (name) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });

  // Log in.
  await page.goto(`${base}/`);
  check(page.url() === `${base}/login`, 'an anonymous visit lands on the login page');
  await shot('01-login');
  await page.fill('input[name=user]', 'admin');
  await page.fill('input[name=password]', password);
  await Promise.all([page.waitForURL(`${base}/`), page.click('button[type=submit]')]);
  check((await page.textContent('h1')) === 'Dashboard', 'after login the dashboard shows');

  // Dashboard chart: inline SVG with bars.
  check((await page.locator('svg.chart').count()) >= 1, 'the dashboard has an SVG chart');
  check((await page.locator('svg.chart rect').count()) >= 1, 'the chart has bars');
  check((await page.textContent('main')).includes('slack'), 'the dashboard lists the apps in use');
  await shot('02-dashboard');

  // Quarantine queue, then the item with the card number.
  await page.click('header >> text=Quarantine');
  await page.waitForURL(`${base}/queue`);
  await shot('03-queue');
  const row = page.locator('tr', { hasText: 'my card is' });
  await Promise.all([page.waitForURL(/\/item\/\d+$/), row.locator('a[href^="/item/"]').first().click()]);
  const itemUrl = page.url();
  check((await page.textContent('mark')) === '4111 1111 1111 1111', 'the rule hit is highlighted');
  await shot('04-item');

  // Release with a reason.
  const reason = 'test card number, not a real one';
  const release = page.locator('form[action$="/release"]');
  await release.locator('textarea[name=reason]').fill(reason);
  await Promise.all([page.waitForURL(/done=released/), release.locator('button').click()]);
  check((await page.locator('.badge.b-released').count()) >= 1, 'the item shows as released');
  await shot('05-released');

  // Audit log.
  await page.click('header >> text=Audit log');
  await page.waitForURL(`${base}/audit`);
  const auditRow = page.locator('tr', { hasText: reason });
  check((await auditRow.count()) === 1, 'the release and its reason are in the audit log');
  check((await auditRow.textContent()).includes('release'), 'the audit row names the action');
  check((await auditRow.textContent()).includes('admin'), 'the audit row names the reviewer');
  await shot('06-audit');

  // Archive search and conversation replay.
  await page.click('header >> text=Archive');
  await page.waitForURL(`${base}/search`);
  await page.fill('input[name=text]', 'thanks');
  await Promise.all([page.waitForURL(/text=thanks/), page.click('form.filters button')]);
  check((await page.locator('tbody tr').count()) >= 2, 'the search finds both messages');
  await shot('07-search');
  await Promise.all([page.waitForURL(/\/conversation\?/), page.locator('a', { hasText: 'replay' }).first().click()]);
  check((await page.locator('.bubble.out').count()) >= 1, 'the replay shows outbound bubbles');
  check((await page.locator('.bubble.in').count()) >= 1, 'the replay shows inbound bubbles');
  check((await page.locator('.bubble .badge').count()) >= 2, 'the bubbles carry verdict badges');
  await shot('08-conversation');

  // The hostile item: its payloads stay text.
  await page.goto(`${base}/queue`);
  const evil = page.locator('tr', { hasText: 'alert(1)' }).first();
  await Promise.all([page.waitForURL(/\/item\/\d+$/), evil.locator('a[href^="/item/"]').click()]);
  check((await page.textContent('.message')).includes('<script>alert(1)</script>'),
        'the script payload shows as text');
  check((await page.locator('main img').count()) === 0, 'no injected image element exists');
  await shot('09-hostile-item');

  check(dialogs.length === 0, `no archived script ran (dialogs: ${JSON.stringify(dialogs)})`);
  check(cspViolations.length === 0, `no CSP violation (${JSON.stringify(cspViolations)})`);
  check(itemUrl.startsWith(base), 'stayed on the UI origin');
  console.log(`screenshots in ${shots}`);
} catch (e) {
  failed = true;
  console.error(e.stack || String(e));
} finally {
  if (browser) await browser.close().catch(() => {});
  server.kill('SIGTERM');
  rmSync(work, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
