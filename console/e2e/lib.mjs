// What every browser test shares: the browser (Debian's chromium through playwright-core, never
// a downloaded one), screenshots, checks, the API and signing in.
//
// Environment: CONSOLE_URL (http://127.0.0.1:8080), API_TOKEN, SCREENSHOT_DIR (default
// ../target/console-screenshots), CHROMIUM (default /usr/bin/chromium).
// A script prints `RESULT {json}` last and exits 1 on any failure (see `run`).
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const base = process.env.CONSOLE_URL ?? 'http://127.0.0.1:8080';
export const token = process.env.API_TOKEN ?? 'dev-token';
export const shots = resolve(
  process.env.SCREENSHOT_DIR ?? new URL('../../target/console-screenshots', import.meta.url).pathname,
);
mkdirSync(shots, { recursive: true });

export function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
}

/** An API call with the token; the parsed JSON answer (null for 204). */
export async function api(path, { method = 'GET', body } = {}) {
  const r = await fetch(`${base}/api/marketing${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  check(r.ok, `${method} ${path}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** "2,000" → 2000 (the pages group digits). */
export const number = (text) => Number(String(text).replace(/[^\d.-]/g, ''));

/** A full-page screenshot `<name>.png` in SCREENSHOT_DIR. */
export async function shot(page, name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
  console.log(`screenshot ${name}.png`);
}

/** A signed-in page (Chinese, 1280×860) at `/console<path>`. */
export async function signedIn(browser, path = '/') {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: 'zh-CN' });
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  await page.goto(`${base}/console/`);
  await page.fill('input[name=token]', token);
  await page.getByRole('button', { name: '登录' }).click();
  await page.getByRole('heading', { name: '营销活动' }).waitFor();
  if (path !== '/') {
    await page.goto(`${base}/console${path}`);
  }
  return page;
}

/** Runs `body(browser, result)` in a fresh chromium, prints `RESULT {result}`, exits 1 on failure. */
export async function run(body) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--no-first-run', '--disable-sync', '--disable-quic'],
  });
  const result = {};
  try {
    await body(browser, result);
    console.log(`RESULT ${JSON.stringify(result)}`);
  } catch (e) {
    console.error(e.stack ?? String(e));
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}
