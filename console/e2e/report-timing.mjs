// The campaign report's render time in a real browser, for `bench report`: each round opens
// `/console/campaigns/<id>` in a fresh browser context (cold cache, the token already in the
// tab) and times, from the navigation's start (performance.timeOrigin) to the first frame where
// the report is complete: the funnel shows the API's sent count, every chart on the page has
// drawn its canvas and no section is still loading.
//
// Environment (besides e2e/lib.mjs's): CAMPAIGNS (`label:id,label:id`), ROUNDS (default 10).
// Prints `RESULT {"<label>": [ms, …], …}`.
import { api, base, check, number, run, token } from './lib.mjs';

const campaigns = (process.env.CAMPAIGNS ?? '').split(',').filter(Boolean).map((c) => c.split(':'));
const rounds = Number(process.env.ROUNDS ?? '10');
check(campaigns.length > 0, 'CAMPAIGNS names at least one campaign');

await run(async (browser, result) => {
  const sent = {};
  for (const [label, id] of campaigns) {
    sent[label] = (await api(`/campaigns/${id}/stats`)).totals.sent;
    result[label] = [];
  }
  for (let round = 0; round < rounds; round++) {
    for (const [label, id] of campaigns) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: 'zh-CN' });
      await context.addInitScript((t) => sessionStorage.setItem('marketing.token', t), token);
      const page = await context.newPage();
      page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
      await page.goto(`${base}/console/campaigns/${id}`);
      const handle = await page.waitForFunction(
        ([want, loading]) => {
          const sentCell = document.querySelector('[data-testid=funnel-sent]');
          if (!sentCell || Number(sentCell.textContent.replace(/[^\d]/g, '')) !== want) return false;
          const charts = [...document.querySelectorAll('[data-testid$=-chart]')];
          if (charts.length === 0 || charts.some((c) => !c.querySelector('canvas'))) return false;
          if (document.querySelector('main').innerText.includes(loading)) return false;
          return performance.now();
        },
        [sent[label], '加载中'],
        { polling: 'raf', timeout: 30_000 },
      );
      const ms = await handle.jsonValue();
      check(number(ms) > 0, `a render time for ${label}`);
      result[label].push(Math.round(ms));
      await context.close();
    }
  }
});
