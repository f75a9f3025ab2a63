// End-to-end: a journey drawn as a graph with its counts. Create the welcome series in the
// editor (a JSON syntax error is shown with its line first) → activate → enroll customers by
// hand → once the worker has walked them through (welcome e-mail → wait 3 s → opened? → exit /
// reminder SMS), every step box shows the counters of `GET /journeys/:id/stats` → break a `next`
// in the editor: the API's error is shown and its step outlined on the graph → a save over a
// version changed elsewhere is refused (412) with "reload"; after reloading it saves (version 3).
// Screenshots 80–84 in SCREENSHOT_DIR.
//
// Environment (besides e2e/lib.mjs's): E2E_CUSTOMER_IDS (comma-separated; without it the script
// seeds E2E_CUSTOMERS customers itself, default 30). Prints `RESULT {json}` last; exits 1 on any
// failure. Started by dispatch-worker/tests/delivery/console/journeys.rs.
import { api, base, check, number, run, shot, signedIn } from './lib.mjs';

const WAIT_SECONDS = 3;

async function customerIds() {
  if (process.env.E2E_CUSTOMER_IDS) return process.env.E2E_CUSTOMER_IDS.split(',');
  const n = Number(process.env.E2E_CUSTOMERS ?? '30');
  const run = Date.now();
  const out = await api('/customers/bulk', {
    method: 'POST',
    body: {
      customers: Array.from({ length: n }, (_, i) => ({
        external_id: `journey-e2e-${run}-${i}`,
        name: `旅程客户${i}`,
        phone: `+86139${String(run % 1e4).padStart(4, '0')}${String(i).padStart(4, '0')}`,
        email: `journey-${run}-${i}@example.com`,
      })),
    },
  });
  return out.ids;
}

const definition = (name) => ({
  name,
  entry: { kind: 'manual' },
  start: 'welcome',
  steps: {
    welcome: { type: 'send', channel: 'email', content: '{{ name }}，欢迎加入！新人礼包：https://shop.example.com/welcome', next: 'wait' },
    wait: { type: 'wait', duration_seconds: WAIT_SECONDS, next: 'opened' },
    opened: { type: 'branch', rule: { engagement: 'opened', step: 'welcome' }, then: 'done', else: 'remind' },
    remind: { type: 'send', channel: 'sms', content: '{{ name }}，新人礼包还没领，别错过' },
    done: { type: 'exit' },
  },
  re_entry: 'never',
  goal: { event: 'order_paid' },
});

const COUNTS = ['entered', 'waiting', 'completed', 'exited', 'converted'];
const MESSAGES = ['sent', 'delivered', 'opened', 'clicked'];

/** What the API says each step box should show (steps nobody reached: zeros). */
function expected(stats, version, steps) {
  const out = {};
  for (const [id, step] of Object.entries(steps)) {
    const s = stats.steps.find((r) => r.version === version && r.step === id) ?? {};
    out[id] = Object.fromEntries(COUNTS.map((k) => [k, s[k] ?? 0]));
    if (step.type === 'send') {
      for (const k of MESSAGES) out[id][k] = s.messages?.figures?.[k] ?? 0;
    }
  }
  return out;
}

/** What each step box of the page shows. */
async function shown(page, steps) {
  const out = {};
  for (const [id, step] of Object.entries(steps)) {
    const box = page.locator(`[data-testid=journey-step][data-step="${id}"]`);
    out[id] = {};
    for (const k of [...COUNTS, ...(step.type === 'send' ? MESSAGES : [])]) {
      out[id][k] = number(await box.locator(`[data-count=${k}]`).textContent());
    }
  }
  return out;
}

await run(async (browser, result) => {
  const ids = await customerIds();
  result.customers = ids.length;
  const page = await signedIn(browser, '/journeys');
  await page.getByRole('heading', { name: '客户旅程' }).waitFor();

  // Create in the editor: a syntax error first (named by its line), then the welcome series.
  await page.getByRole('button', { name: '新建旅程' }).click();
  await page.getByRole('heading', { name: '新建旅程' }).waitFor();
  const name = `新客欢迎 ${Date.now()}`;
  const def = definition(name);
  const text = JSON.stringify(def, null, 2);
  const broken = text.replace('"start": "welcome",', '"start": "welcome"'); // line 6 lacks its comma
  await page.fill('textarea[name=definition]', broken);
  await page.getByRole('button', { name: '创建旅程' }).click();
  const syntax = await page.getByTestId('journey-error').textContent();
  check(/第 7 行/.test(syntax), `the syntax error names line 7 (where the comma is missing before): ${syntax}`);
  result.syntax_error = syntax;
  await page.fill('textarea[name=definition]', text);
  // The preview draws the text being edited.
  await page.locator('[data-testid=journey-step][data-step=remind]').waitFor();
  await page.getByRole('button', { name: '创建旅程' }).click();
  await page.getByTestId('journey-name').filter({ hasText: name }).waitFor();
  const journeyId = page.url().split('/').pop();
  result.journey_id = journeyId;

  // Activate, then enroll the customers by hand.
  await page.getByRole('button', { name: '启用' }).click();
  await page.getByTestId('journey-status').filter({ hasText: '进行中' }).waitFor();
  await page.fill('textarea[name=customer_ids]', ids.join('\n'));
  await page.getByRole('button', { name: '加入旅程' }).click();
  const enrolled = await page.getByTestId('enroll-result').textContent();
  check(enrolled.includes(`已加入 ${ids.length} 人`), `all entered: ${enrolled}`);

  // Let the worker walk them through: everyone past the wait, both messages sent.
  const started = Date.now();
  let stats;
  for (;;) {
    check(Date.now() - started < 60_000, `the journey settles in 60 s: ${JSON.stringify(stats)}`);
    stats = await api(`/journeys/${journeyId}/stats`);
    const step = (id) => stats.steps.find((s) => s.version === 1 && s.step === id);
    const settled =
      stats.steps.every((s) => s.waiting === 0) &&
      (step('remind')?.completed ?? 0) + (step('done')?.exited ?? 0) === ids.length &&
      step('welcome')?.messages?.figures?.sent === ids.length &&
      step('remind')?.messages?.figures?.sent === (step('remind')?.entered ?? 0);
    if (settled) break;
    await page.waitForTimeout(500);
  }
  result.settled_ms = Date.now() - started;

  // The page (refreshed every 3 s) shows every step's counters as the API does.
  let want;
  let got;
  const compareStarted = Date.now();
  for (;;) {
    stats = await api(`/journeys/${journeyId}/stats`);
    want = expected(stats, 1, def.steps);
    got = await shown(page, def.steps);
    if (JSON.stringify(want) === JSON.stringify(got)) break;
    check(Date.now() - compareStarted < 15_000, `the boxes show the API's counts:\npage ${JSON.stringify(got)}\napi  ${JSON.stringify(want)}`);
    await page.waitForTimeout(500);
  }
  check(got.welcome.entered === ids.length, `welcome entered ${got.welcome.entered}`);
  result.shown = got;
  result.totals = await page.getByTestId('journey-totals').textContent();
  await shot(page, '80-journeys-graph');

  // English.
  await page.getByRole('button', { name: 'English' }).click();
  await page.getByRole('button', { name: 'Activate' }).or(page.getByRole('button', { name: 'Pause' })).first().waitFor();
  await page.getByText('entered', { exact: true }).first().waitFor();
  await shot(page, '81-journeys-graph-en');
  await page.getByRole('button', { name: '中文' }).or(page.getByRole('button', { name: 'Chinese' })).first().click();
  await page.getByRole('button', { name: '暂停' }).waitFor();

  // Break a `next` in the editor: the API's error is shown and the step it names is outlined.
  await page.getByRole('button', { name: '编辑定义（JSON）' }).click();
  const edited = JSON.parse(await page.inputValue('textarea[name=definition]'));
  edited.steps.wait.next = 'nowhere';
  await page.fill('textarea[name=definition]', JSON.stringify(edited, null, 2));
  await page.getByRole('button', { name: '保存', exact: true }).click();
  const error = page.getByTestId('journey-error');
  await error.waitFor();
  result.error_text = await error.textContent();
  result.error_field = await error.getAttribute('data-field');
  const faulty = page.locator('[data-testid=journey-step][data-fault]');
  check((await faulty.count()) === 1, 'one step outlined');
  result.highlighted = await faulty.getAttribute('data-step');
  result.step_error = await page.getByTestId('journey-step-error').textContent();
  check(await page.getByTestId('journey-missing').isVisible(), 'the step named but missing is drawn');
  await page.getByTestId('journey-graph').scrollIntoViewIfNeeded();
  await shot(page, '82-journeys-error');

  // Changed elsewhere meanwhile: the save is refused (412) and the page says to reload.
  const other = JSON.parse(JSON.stringify(def));
  other.steps.remind.content = '{{ name }}，礼包今晚到期';
  await api(`/journeys/${journeyId}`, { method: 'PUT', body: other });
  edited.steps.wait.next = 'opened';
  edited.steps.remind.content = '{{ name }}，浏览器里改的';
  await page.fill('textarea[name=definition]', JSON.stringify(edited, null, 2));
  await page.getByRole('button', { name: '保存', exact: true }).click();
  await page.getByTestId('journey-conflict').waitFor();
  result.conflict = await page.getByTestId('journey-conflict').textContent();
  await shot(page, '83-journeys-conflict');
  await page.getByRole('button', { name: '重新加载' }).click();
  await page.getByText('第 2 版').first().waitFor();
  const reloaded = JSON.parse(await page.inputValue('textarea[name=definition]'));
  check(reloaded.steps.remind.content === other.steps.remind.content, 'reload shows the version saved elsewhere');
  // Saved on the version read (If-Match): a new version, the editor closes.
  reloaded.steps.remind.content = '{{ name }}，浏览器里改的';
  await page.fill('textarea[name=definition]', JSON.stringify(reloaded, null, 2));
  await page.getByRole('button', { name: '保存', exact: true }).click();
  await page.getByText('已保存（第 3 版）').waitFor();
  result.saved_version = 3;

  // The list: the journey with its status badge, found by the status filter.
  await page.goto(`${base}/console/journeys`);
  await page.selectOption('select[name=status]', 'active');
  await page.getByRole('button', { name: '筛选' }).click();
  const row = page.getByTestId('journey-table').locator('tr', { hasText: name });
  await row.waitFor();
  result.list_status = (await row.locator('.badge').textContent()).trim();
  await shot(page, '84-journeys-list');
});
