// The cabinet page in a real browser: the whole flow of the seed's wizard,
// the key list, reordering, revocation, the placeholders (OAuth, Rentable),
// errors next to their fields, keyboard use and an axe-core check, at a
// desktop and a phone size.  Prints TAP.  Started by t/browser/run, which
// sets up nginx and passes:
//   BYOK_BASE          http://127.0.0.1:PORT of that nginx
//   BYOK_JWT_SECRET    file holding its HS256 secret
//   BYOK_SCREENSHOTS   where NN-step-VIEWPORT.png files go
//   CHROMIUM           the browser binary

'use strict';

const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const { chromium } = require('playwright-core');

const BASE = process.env.BYOK_BASE;
const SECRET = fs.readFileSync(process.env.BYOK_JWT_SECRET, 'utf8').trim();
const SHOTS = process.env.BYOK_SCREENSHOTS;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const AXE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const PAGE = BASE + '/account/keys/';

const HINT_INVALID = 'The key is wrong or expired. Re-paste from the provider dashboard.';
const KEY_GOOD = 'sk-ant-api03-good-7f3a9c1e5b2d4f60a8e1';
const KEY_STALE = 'sk-ant-api03-stale-0b1c2d3e4f5a6b7c8d9e';

const VIEWPORTS = [
  { name: 'desktop', width: 1280, height: 800, user: 'alex' },
  { name: 'mobile', width: 390, height: 844, user: 'sam' }
];

// ---------------------------------------------------------------- TAP

let count = 0;
let failures = 0;

function tap(pass, name, diag) {
  count++;
  console.log(`${pass ? 'ok' : 'not ok'} ${count} - ${name}`);
  if (!pass) {
    failures++;
    for (const line of String(diag || '').split('\n').slice(0, 12)) {
      console.log('#   ' + line);
    }
  }
}

async function test(name, fn) {
  try {
    await fn();
    tap(true, name);
  } catch (e) {
    tap(false, name, e && e.stack ? e.stack : e);
  }
}

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

function eq(got, want, what) {
  const g = JSON.stringify(got), w = JSON.stringify(want);
  if (g !== w) throw new Error(`${what}: got ${g}, want ${w}`);
}

// --------------------------------------------------------------- helpers

function b64url(buf) {
  return Buffer.from(buf).toString('base64url');
}

function jwt(sub) {
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify({ sub, exp: Math.floor(Date.now() / 1000) + 3600 }));
  const sig = crypto.createHmac('sha256', SECRET).update(`${head}.${body}`).digest();
  return `${head}.${body}.${b64url(sig)}`;
}

async function apiGet(token, p) {
  const res = await fetch(BASE + p, { headers: { Authorization: 'Bearer ' + token } });
  return { status: res.status, body: await res.json() };
}

async function axeCheck(page, what) {
  if (!(await page.evaluate(() => typeof window.axe !== 'undefined'))) {
    // evaluated over the DevTools protocol: the page's CSP does not apply
    await page.evaluate(AXE);
  }
  const res = await page.evaluate(() => window.axe.run(document, {
    runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] }
  }));
  const bad = res.violations.filter(v => v.impact === 'serious' || v.impact === 'critical');
  for (const v of res.violations.filter(v => !bad.includes(v))) {
    console.log(`# axe, ${what}: ${v.id} (${v.impact}): ${v.help}`);
  }
  assert(bad.length === 0, `${what}: ` + bad.map(v =>
    `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map(n => n.target.join(' ')).join(', ')}`
  ).join('; '));
  return res;
}

// Tab (or Shift+Tab) until pred(active element) holds; returns the count.
async function tabTo(page, pred, arg, max = 40) {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    if (await page.evaluate(pred, arg)) return i + 1;
  }
  throw new Error('could not reach the control with Tab');
}

async function rowsOf(page, provider) {
  return page.$$eval(`#keys-list section[data-provider="${provider}"] tbody tr`, trs =>
    trs.map(tr => ({
      id: Number(tr.dataset.id),
      label: tr.querySelector('td[data-label="Label"]').textContent.trim(),
      masked: tr.querySelector('.masked').textContent,
      test: (tr.querySelector('.pill') || {}).dataset?.result,
      health: tr.querySelector('.health').textContent,
      revoked: tr.classList.contains('revoked')
    })));
}

async function labelsOf(page, provider) {
  return (await rowsOf(page, provider)).filter(r => !r.revoked).map(r => r.label);
}

// ------------------------------------------------------------------ flow

async function flow(browser, vp) {
  const tag = `[${vp.name}]`;
  const token = jwt(vp.user);
  const context = await browser.newContext({
    viewport: { width: vp.width, height: vp.height },
    deviceScaleFactor: 1,
    locale: 'en-US',
    timezoneId: 'UTC',
    reducedMotion: 'reduce'
  });
  const page = await context.newPage();
  page.setDefaultTimeout(10000);

  const problems = [];
  page.on('pageerror', e => problems.push('page error: ' + e.message));
  page.on('console', m => {
    // the browser logs every 4xx/5xx fetch answer; the tests cause those on purpose
    if (m.type() === 'error' && !/^Failed to load resource/.test(m.text())) {
      problems.push('console: ' + m.text());
    }
  });

  let shot = 0;
  async function screenshot(step, fullPage = true) {
    shot++;
    const file = path.join(SHOTS, `${String(shot).padStart(2, '0')}-${step}-${vp.name}.png`);
    await page.mouse.move(0, 0).catch(() => {});
    await page.screenshot({ path: file, fullPage });
  }
  async function sectionShot(step, selector) {
    shot++;
    const file = path.join(SHOTS, `${String(shot).padStart(2, '0')}-${step}-${vp.name}.png`);
    await page.mouse.move(0, 0).catch(() => {});
    await page.locator(selector).screenshot({ path: file });
  }
  // hovers, runs check() while the pointer is there, then shoots the window
  // (a full-page shot resizes the view, which can end the hover)
  async function hoverShot(step, selector, check) {
    shot++;
    const file = path.join(SHOTS, `${String(shot).padStart(2, '0')}-${step}-${vp.name}.png`);
    await page.hover(selector);
    await check();
    await page.screenshot({ path: file });
  }

  async function noOverflow(what) {
    const [sw, iw] = await page.evaluate(() =>
      [document.documentElement.scrollWidth, window.innerWidth]);
    assert(sw <= iw, `${what}: the page is ${sw}px wide in a ${iw}px window`);
  }

  // --- sign-in

  await test(`${tag} without a token the page asks for one`, async () => {
    const res = await page.goto(BASE + '/account/keys');
    eq(res.status(), 200, 'status after the redirect to /account/keys/');
    await page.locator('#signin').waitFor({ state: 'visible' });
    assert(await page.isHidden('#wizard'), 'the wizard is hidden');
    eq(await page.getAttribute('#token', 'type'), 'password', 'token field type');
    const csp = (await res.allHeaders())['content-security-policy'] || '';
    assert(/script-src 'self'/.test(csp), 'the page is served with a CSP: ' + csp);
    await screenshot('signin');
  });

  await test(`${tag} a refused token is explained next to the token field`, async () => {
    await page.fill('#token', 'not-a-token');
    await page.click('#signin-form button[type=submit]');
    await page.locator('#token-error').waitFor({ state: 'visible' });
    const msg = await page.textContent('#token-error');
    assert(/signed out.*expired or not valid/.test(msg), 'message: ' + msg);
    eq(await page.getAttribute('#token', 'aria-invalid'), 'true', 'aria-invalid');
    assert((await page.getAttribute('#token', 'aria-describedby')).includes('token-error'),
      'the message describes the field');
  });

  await test(`${tag} the development URL signs in and hides the token`, async () => {
    await page.goto(PAGE + '#token=' + token);
    await page.locator('#wizard').waitFor({ state: 'visible' });
    eq(new URL(page.url()).hash, '', 'fragment after sign-in');
    eq(await page.evaluate(() => sessionStorage.getItem('byok.token')), token, 'stored token');
    eq(await page.textContent('#whoami'), 'Signed in as ' + vp.user, 'whose keys');
    assert(await page.isVisible('#signout'), 'a development sign-in can sign out');
    await page.reload();
    await page.locator('#wizard').waitFor({ state: 'visible' });
    await page.locator('#keys-list .empty').waitFor();
  });

  // --- step 1: categories

  await test(`${tag} step 1 shows five category tiles from the catalog`, async () => {
    await page.locator('#tiles .tile').first().waitFor();
    const names = await page.$$eval('#tiles .tile .tile-name', els => els.map(e => e.textContent));
    eq(names, ['LLM', 'Image', 'Video', 'Audio', 'Research'], 'tiles');
    const tags = await page.$$eval('#tiles .tile', els => els.map(e => e.tagName));
    eq(tags, ['BUTTON', 'BUTTON', 'BUTTON', 'BUTTON', 'BUTTON'], 'tiles are buttons');
    await noOverflow('categories');
    await screenshot('categories');
  });

  await test(`${tag} axe-core: no serious or critical violations on the empty cabinet`, async () => {
    await axeCheck(page, 'empty cabinet');
  });

  // --- step 2: providers, OAuth

  await test(`${tag} step 2: the LLM tile expands into provider cards`, async () => {
    await page.click('#tiles .tile[data-category="llm"]');
    await page.locator('#step2').waitFor({ state: 'visible' });
    eq(await page.getAttribute('#tiles .tile[data-category="llm"]', 'aria-expanded'), 'true',
      'aria-expanded');
    const names = await page.$$eval('#cards .card .card-name', els => els.map(e => e.textContent));
    eq(names, ['Anthropic', 'OpenAI', 'OpenRouter', 'Groq'], 'cards');
    eq(await page.evaluate(() => document.activeElement.id), 'step2-h', 'focus moved to step 2');
    await screenshot('providers');
  });

  await test(`${tag} Anthropic: Continue with Claude OAuth shows "OAuth Max — coming soon"`, async () => {
    await page.click('#cards .card[data-provider="anthropic"]');
    await page.locator('#step3').waitFor({ state: 'visible' });
    const btn = page.locator('#oauth-btn');
    eq((await btn.textContent()).trim(), 'Continue with Claude OAuth', 'button');
    const [res] = await Promise.all([
      page.waitForResponse(r => r.url().endsWith('/oauth/anthropic/start')),
      btn.click()
    ]);
    eq(res.status(), 501, 'OAuth start status');
    await page.locator('#oauth-notice strong').waitFor();
    eq(await page.textContent('#oauth-notice strong'), 'OAuth Max — coming soon', 'notice');
    eq(await page.getAttribute('#oauth-notice', 'role'), 'status', 'the notice is announced');
    await screenshot('oauth-notice');
  });

  await test(`${tag} other providers have no OAuth button`, async () => {
    await page.click('#cards .card[data-provider="openai"]');
    assert(await page.isHidden('#oauth'), 'no OAuth for OpenAI');
    await page.click('#cards .card[data-provider="anthropic"]');
    assert(await page.isVisible('#oauth-btn'), 'OAuth again for Anthropic');
    eq(await page.textContent('#oauth-notice'), '', 'the notice was cleared');
  });

  // --- step 3: errors next to their fields

  await test(`${tag} the API's error on the key is shown under the key field`, async () => {
    await page.fill('#key-value', 'sk-ant-short');
    await page.click('#save');
    await page.locator('#key-error').waitFor({ state: 'visible' });
    eq(await page.textContent('#key-error'), 'The key must be 16 to 4096 characters long.',
      'message');
    eq(await page.getAttribute('#key-value', 'aria-invalid'), 'true', 'aria-invalid');
    eq(await page.evaluate(() => document.activeElement.id), 'key-value', 'focus on the field');
    assert(await page.isHidden('#label-error'), 'no label error');
    await screenshot('key-error');
  });

  await test(`${tag} the API's error on the label is shown under the label field`, async () => {
    await page.fill('#key-value', KEY_GOOD);
    assert(await page.isHidden('#key-error'), 'typing clears the key error');
    await page.fill('#key-label', 'é'.repeat(40));          // 40 characters, 80 bytes
    await page.click('#save');
    await page.locator('#label-error').waitFor({ state: 'visible' });
    assert(/^The label must be .*64 bytes/.test(await page.textContent('#label-error')),
      'message: ' + await page.textContent('#label-error'));
    eq(await page.getAttribute('#key-label', 'aria-invalid'), 'true', 'aria-invalid');
    eq(await page.inputValue('#key-value'), KEY_GOOD, 'the key is kept for the retry');
  });

  // --- step 3: save and test

  await test(`${tag} saving a working key shows the green "Valid" pill`, async () => {
    await page.fill('#key-label', 'main');
    await page.click('#save');
    await page.locator('#result .pill[data-result="valid"]').waitFor();
    eq(await page.textContent('#result .pill'), 'Valid', 'pill text');
    const bg = await page.$eval('#result .pill', e => getComputedStyle(e).backgroundColor);
    eq(bg, 'rgb(220, 242, 226)', 'green pill');
    assert((await page.textContent('#result')).includes('Saved “main” (sk-ant-a***)'),
      'saved line: ' + await page.textContent('#result'));
    eq(await page.inputValue('#key-value'), '', 'the key field is emptied');
    eq(await page.getAttribute('#result', 'aria-live'), 'polite', 'the result is announced');
    await page.locator('#keys-list section[data-provider="anthropic"] tbody tr').first().waitFor();
    await screenshot('valid');
  });

  await test(`${tag} a refused key shows the red "Invalid" pill and the fix`, async () => {
    await page.fill('#key-value', KEY_STALE);
    await page.fill('#key-label', 'backup');
    await page.click('#save');
    await page.locator('#result .pill[data-result="invalid"]').waitFor();
    eq(await page.textContent('#result .pill'), 'Invalid', 'pill text');
    eq(await page.textContent('#result .hint'), HINT_INVALID, 'hint');
    const bg = await page.$eval('#result .pill', e => getComputedStyle(e).backgroundColor);
    eq(bg, 'rgb(253, 230, 230)', 'red pill');
    await page.waitForFunction(() =>
      document.querySelectorAll('#keys-list section[data-provider="anthropic"] tbody tr').length === 2
      && !document.querySelector('#keys-list .pill-testing'));
    await screenshot('invalid');
  });

  // --- the list

  await test(`${tag} the list: masked prefix, label, last test and time, health`, async () => {
    const rows = await rowsOf(page, 'anthropic');
    eq(rows.map(r => r.label), ['backup', 'main'], 'newest first at equal priority');
    eq(rows.map(r => r.masked), ['sk-ant-a***', 'sk-ant-a***'], 'masked');
    eq(rows.map(r => r.test), ['invalid', 'valid'], 'last test');
    eq(rows.map(r => r.health), ['Invalid key', 'Active'], 'health: the key the test refused is invalid');
    const times = await page.$$eval('#keys-list section[data-provider="anthropic"] time',
      ts => ts.map(t => t.getAttribute('datetime')));
    assert(times.length === 2 && times.every(t => /^\d{4}-\d\d-\d\dT/.test(t)), 'times: ' + times);
    const hint = await page.textContent('#keys-list tr:first-child .row-hint');
    eq(hint, HINT_INVALID, 'the row explains the red pill');
    const page_text = await page.textContent('#keys-list');
    assert(!page_text.includes('good-7f3a') && !page_text.includes('stale-0b1c'),
      'no key text beyond the masked prefix');
    await noOverflow('list');
    await sectionShot('list', '#keys');
  });

  await test(`${tag} the up arrow reorders (PUT …/order) and keeps the focus`, async () => {
    const main = page.locator('#keys-list tr', { hasText: 'main' });
    const [req] = await Promise.all([
      page.waitForRequest(r => r.url().endsWith('/me/provider-keys/order') && r.method() === 'PUT'),
      main.locator('[data-action="up"]').click()
    ]);
    const body = JSON.parse(req.postData());
    eq(body.provider, 'anthropic', 'order provider');
    await page.waitForFunction(() =>
      document.querySelector('#keys-list section[data-provider="anthropic"] tbody tr td[data-label="Label"]')
        .textContent.trim() === 'main');
    eq(await labelsOf(page, 'anthropic'), ['main', 'backup'], 'new order');
    const api = await apiGet(token, '/me/provider-keys?provider=anthropic');
    eq(api.body.keys.map(k => [k.label, k.rotation_priority]), [['main', 0], ['backup', 1]],
      'stored priorities');
    // the up arrow is now disabled: the focus moved to the row's down arrow
    eq(await page.evaluate(() => document.activeElement.dataset.action), 'down', 'focus');
    eq(await page.evaluate(() => document.activeElement.closest('tr')
      .querySelector('td[data-label="Label"]').textContent.trim()), 'main', 'focus row');
    await screenshot('reordered');
  });

  await test(`${tag} the arrows work with the keyboard alone`, async () => {
    await page.keyboard.press('Enter');                     // main down
    await page.waitForFunction(() => document.activeElement.dataset.action === 'up'
      && document.querySelector('#keys-list section[data-provider="anthropic"] tbody tr td[data-label="Label"]')
        .textContent.trim() === 'backup');
    eq(await labelsOf(page, 'anthropic'), ['backup', 'main'], 'after Enter on down');
    await page.keyboard.press('Space');                     // main up again
    await page.waitForFunction(() => document.activeElement.dataset.action === 'down');
    eq(await labelsOf(page, 'anthropic'), ['main', 'backup'], 'after Space on up');
    await page.waitForFunction(() => /Moved .*main.* to position 1 of 2/.test(
      document.getElementById('keys-status').textContent));
  });

  await test(`${tag} the Rentable toggle is visibly disabled with a "coming soon" tooltip`, async () => {
    const sw = page.locator('#keys-list tr', { hasText: 'main' }).locator('[data-action="rentable"]');
    eq(await sw.getAttribute('role'), 'switch', 'role');
    eq(await sw.getAttribute('aria-disabled'), 'true', 'aria-disabled');
    eq(await sw.getAttribute('aria-checked'), 'false', 'aria-checked');
    const tipId = await sw.getAttribute('aria-describedby');
    const tip = page.locator('#' + tipId);
    assert(/coming soon/i.test(await tip.textContent()), 'tooltip text');
    assert(!(await tip.isVisible()), 'tooltip hidden until hover');
    await hoverShot('rentable', `#${tipId} >> xpath=..`, () => tip.waitFor({ state: 'visible' }));
    await sw.click({ force: true });
    eq(await sw.getAttribute('aria-checked'), 'false', 'a click changes nothing');
    await page.mouse.move(0, 0);
    assert(await tip.isVisible(), 'a click or tap shows the reason too');
    await page.keyboard.press('Tab');
    assert(!(await tip.isVisible()), 'and leaving the switch hides it');
    const header = await page.textContent('#keys-list th:nth-child(6)');
    assert(/Rentable\s*soon/.test(header), 'column header: ' + header);
  });

  await test(`${tag} axe-core: no serious or critical violations on the filled cabinet`, async () => {
    await page.mouse.move(0, 0);
    await axeCheck(page, 'filled cabinet');
  });

  // --- revoke

  await test(`${tag} revoke asks first; Cancel keeps the key`, async () => {
    const backup = page.locator('#keys-list tr', { hasText: 'backup' });
    await backup.locator('[data-action="revoke"]').click();
    await page.locator('#confirm').waitFor({ state: 'visible' });
    assert((await page.textContent('#confirm-text')).includes('“backup”'), 'names the key');
    eq(await page.evaluate(() => document.activeElement.id), 'confirm-cancel', 'focus on Cancel');
    await axeCheck(page, 'confirmation dialog');
    await screenshot('revoke-confirm', false);        // the modal as seen in the window
    await page.click('#confirm-cancel');
    await page.locator('#confirm').waitFor({ state: 'hidden' });
    eq(await labelsOf(page, 'anthropic'), ['main', 'backup'], 'both keys still there');
    eq(await page.evaluate(() => document.activeElement.dataset.action), 'revoke', 'focus back');
    await page.keyboard.press('Enter');                     // open again by keyboard
    await page.locator('#confirm').waitFor({ state: 'visible' });
    await page.keyboard.press('Escape');
    await page.locator('#confirm').waitFor({ state: 'hidden' });
    eq(await labelsOf(page, 'anthropic'), ['main', 'backup'], 'Escape keeps the key too');
  });

  await test(`${tag} revoke after confirming removes the key (DELETE)`, async () => {
    const backup = page.locator('#keys-list tr', { hasText: 'backup' });
    const id = Number(await backup.getAttribute('data-id'));
    await backup.locator('[data-action="revoke"]').click();
    await page.locator('#confirm').waitFor({ state: 'visible' });
    const [res] = await Promise.all([
      page.waitForResponse(r => r.request().method() === 'DELETE'),
      page.click('#confirm-ok')
    ]);
    eq(res.status(), 200, 'DELETE status');
    await page.waitForFunction(() =>
      document.querySelectorAll('#keys-list section[data-provider="anthropic"] tbody tr').length === 1);
    eq(await labelsOf(page, 'anthropic'), ['main'], 'left');
    const api = await apiGet(token, '/me/provider-keys/' + id);
    eq(api.body.status, 'revoked', 'stored status');
    await page.waitForFunction(() => /Revoked .*backup/.test(
      document.getElementById('keys-status').textContent));
    await screenshot('revoked');
  });

  await test(`${tag} "Show revoked" lists the revoked key without actions`, async () => {
    await page.check('#show-revoked');
    await page.waitForFunction(() => document.querySelector('#keys-list tr.revoked'));
    const rows = await rowsOf(page, 'anthropic');
    eq(rows.map(r => [r.label, r.health]), [['main', 'Active'], ['backup', 'Revoked']], 'rows');
    eq(await page.$$eval('#keys-list tr.revoked [data-action="revoke"]', b => b.length), 0,
      'no revoke button on a revoked key');
    await page.uncheck('#show-revoked');
    await page.waitForFunction(() => !document.querySelector('#keys-list tr.revoked'));
  });

  // --- a provider without a test, a provider that fails

  await test(`${tag} a provider without a test shows the grey "No test available" pill`, async () => {
    await page.click('#tiles .tile[data-category="audio"]');
    await page.click('#cards .card[data-provider="cartesia"]');
    assert((await page.textContent('#key-help')).includes('saved untested'), 'the form says so');
    await page.fill('#key-value', 'sk_car_good-1b2c3d4e5f60718293');
    await page.fill('#key-label', 'voice');
    await page.click('#save');
    await page.locator('#result .pill[data-result="skipped"]').waitFor();
    eq(await page.textContent('#result .pill'), 'No test available', 'pill text');
    const bg = await page.$eval('#result .pill', e => getComputedStyle(e).backgroundColor);
    eq(bg, 'rgb(233, 236, 239)', 'grey pill');
    await page.locator('#keys-list section[data-provider="cartesia"] tbody tr .pill[data-result="skipped"]')
      .waitFor();
    await screenshot('skipped');
  });

  await test(`${tag} a failing provider shows "Test failed" with its status`, async () => {
    await page.click('#tiles .tile[data-category="research"]');
    await page.click('#cards .card[data-provider="perplexity"]');
    await page.fill('#key-value', 'pplx-down-0123456789abcdef');
    await page.click('#save');
    await page.locator('#result .pill[data-result="error"]').waitFor();
    eq(await page.textContent('#result .hint'),
      'The provider answered with status 500. Try the test again later.', 'hint');
  });

  await test(`${tag} the Test button re-runs a key test from the list`, async () => {
    const row = page.locator('#keys-list tr', { hasText: 'main' });
    const [res] = await Promise.all([
      page.waitForResponse(r => /\/test$/.test(r.url())),
      row.locator('[data-action="test"]').click()
    ]);
    eq((await res.json()).result, 'valid', 'result');
    await page.waitForFunction(() => /Test of .*main.*: Valid/.test(
      document.getElementById('keys-status').textContent));
    eq(await page.evaluate(() => document.activeElement.dataset.action), 'test', 'focus kept');
  });

  // --- keyboard only, from a fresh page

  await test(`${tag} a key can be added with the keyboard alone`, async () => {
    await page.goto(PAGE);
    await page.locator('#tiles .tile').first().waitFor();
    await tabTo(page, () => document.activeElement.dataset.category === 'llm');
    const ring = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    assert(ring !== 'none', 'a focused tile shows a focus ring');
    await page.keyboard.press('Enter');
    eq(await page.evaluate(() => document.activeElement.id), 'step2-h', 'focus on step 2');
    await tabTo(page, () => document.activeElement.dataset.provider === 'openai');
    await page.keyboard.press('Enter');
    eq(await page.evaluate(() => document.activeElement.id), 'step3-h', 'focus on step 3');
    await tabTo(page, () => document.activeElement.id === 'key-value');
    await page.keyboard.type('sk-proj-good-abcdef0123456789');
    await tabTo(page, () => document.activeElement.id === 'key-label');
    await page.keyboard.type('keyboard');
    await tabTo(page, () => document.activeElement.id === 'save');
    await page.keyboard.press('Enter');
    await page.locator('#result .pill[data-result="valid"]').waitFor();
    eq(await page.evaluate(() => document.activeElement.id), 'save', 'focus stays on Save');
    await page.locator('#keys-list section[data-provider="openai"] tbody tr').waitFor();
  });

  await test(`${tag} the page fits the window and logged no errors`, async () => {
    await noOverflow('final page');
    await screenshot('overview');
    assert(problems.length === 0, problems.join('\n'));
  });

  await context.close();
}

// ---------------------------------------- production sign-in (host session)

async function production(browser) {
  const HOST_TOKEN = process.env.BYOK_HOST_TOKEN;
  const HOST_PAGE = BASE + '/host/account/keys/';
  const tag = '[host]';

  await test(`${tag} with the host's session the page signs in by itself (byok-token-url)`, async () => {
    const res = await fetch(BASE + '/me/provider-keys', {
      method: 'POST',
      headers: { Authorization: 'Bearer ' + HOST_TOKEN, 'Content-Type': 'application/json' },
      body: JSON.stringify({ category: 'llm', provider: 'groq', label: 'from-host',
                             value: 'gsk_good-0123456789abcdef' })
    });
    eq(res.status, 201, 'key created for the host user');

    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await context.addCookies([{ name: 'host_session', value: process.env.BYOK_HOST_SESSION,
                                url: BASE }]);
    const page = await context.newPage();
    page.setDefaultTimeout(10000);
    await page.goto(HOST_PAGE);
    await page.locator('#keys-list section[data-provider="groq"]').waitFor();
    eq(await labelsOf(page, 'groq'), ['from-host'], "the host user's keys");
    eq(await page.textContent('#whoami'), 'Signed in as host-user', 'whose keys');
    assert(await page.isHidden('#signin'), 'no token form');
    assert(await page.isHidden('#signout'), 'signing out is the host application\'s business');
    eq(await page.evaluate(() => sessionStorage.getItem('byok.token')), null,
      'the token is not stored');

    // a link carrying somebody else's token does not change the account
    await page.goto(HOST_PAGE + '#token=' + jwt('intruder'));
    await page.reload();
    await page.locator('#keys-list section[data-provider="groq"]').waitFor();
    eq(await page.textContent('#whoami'), 'Signed in as host-user', 'after a #token= link');
    eq(new URL(page.url()).hash, '', 'the fragment is dropped');
    await context.close();
  });

  await test(`${tag} without the host's session the page says to sign in to the cabinet`, async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    page.setDefaultTimeout(10000);
    await page.goto(HOST_PAGE);
    await page.locator('#banner').waitFor({ state: 'visible' });
    assert(/signed out/i.test(await page.textContent('#banner')), 'banner');
    assert(await page.isHidden('#signin'), 'no token form in production');
    assert(await page.isHidden('#wizard'), 'no wizard');
    await context.close();
  });
}

// ------------------------------------------------------------------ main

async function main() {
  const timer = setTimeout(() => {
    tap(false, 'the browser run finished within 240 s');
    console.log(`1..${count}`);
    process.exit(1);
  }, 240000);

  let browser;
  try {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu']
    });
  } catch (e) {
    tap(false, 'Chromium starts', e.stack);
    console.log(`1..${count}`);
    process.exit(1);
  }

  console.log(`# ${CHROMIUM} ${browser.version()}, page ${PAGE}`);

  for (const vp of VIEWPORTS) {
    await flow(browser, vp);
  }
  await production(browser);

  await browser.close();
  clearTimeout(timer);
  console.log(`1..${count}`);
  process.exit(failures ? 1 : 0);
}

main().catch(e => {
  tap(false, 'the browser run', e.stack);
  console.log(`1..${count}`);
  process.exit(1);
});
