// End-to-end: a sent campaign's report and the templates section, in a real browser against a
// real campaign-svc and dispatch-worker.
// Report: the hourly chart is drawn with exactly the API's hours (GET /campaigns/:id/stats/hourly);
// the records browser filtered by status shows exactly the API's records, page by page with the
// cursor, forward and back. Templates: an html_body with a syntax error on line 3 is refused and
// the error is shown on html_body with line 3 marked; fixed, it saves, and the preview for a
// customer shows their name. Screenshots 40–45 go to SCREENSHOT_DIR.
//
// Environment (besides e2e/lib.mjs's): E2E_TAG, the tag of customers the Rust test seeded
// (`<tag>-<i>` external ids, 130 of them, the ones without `attributes.points` failing to
// render). Without it the script seeds them itself. E2E_SINK: the worker's log sink (JSON lines
// with each message's `body`); when given, the first CLICKS customers click the message's link,
// so the hours have opens and clicks too. Prints `RESULT {json}` last; exits 1 on
// any failure. Started by dispatch-worker/tests/delivery/console/report.rs.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { api, base, check, number, run, shot, shots, signedIn } from './lib.mjs';

const PAGE_SIZE = 50;
const AUDIENCE = 130;
const CLICKS = 7;
const sink = process.env.E2E_SINK;

/** The customers `<tag>-<i>`: those with i % 13 == 0 or i >= 110 have no points. */
export function seedCustomers(tag) {
  return Array.from({ length: AUDIENCE }, (_, i) => ({
    external_id: `${tag}-${i}`,
    name: `报告客户${i}`,
    phone: `+86137${String(i).padStart(8, '0')}`,
    email: `${tag}-${i}@example.com`,
    tags: [tag],
    ...(i % 13 !== 0 && i < 110 ? { attributes: { points: 1000 + i } } : {}),
  }));
}

const FAILING = seedCustomers('x').filter((c) => !c.attributes).length;

let tag = process.env.E2E_TAG;
if (!tag) {
  tag = `rpt${Date.now()}`;
  await api('/customers/bulk', { method: 'POST', body: { customers: seedCustomers(tag) } });
}

/** Every page of the API's records for `status`, by cursor: [[ids of page 1], …]. */
async function apiPages(campaignId, status) {
  const pages = [];
  let cursor = '';
  for (;;) {
    const q = `campaign_id=${campaignId}&status=${status}&page_size=${PAGE_SIZE}&cursor=${cursor}`;
    const page = await api(`/records?${q}`);
    if (page.records.length > 0 || pages.length === 0) pages.push(page.records.map((r) => r.id));
    if (!page.next) return pages;
    cursor = page.next;
  }
}

const shownIds = (page) =>
  page.getByTestId('records').locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.recordId));

await run(async (browser, result) => {
  // A campaign sent through the API: points render for most, fail for the customers without.
  const campaign = await api('/campaigns', {
    method: 'POST',
    body: {
      name: `报告 ${tag}`,
      type: 'sms',
      target_tags: [tag],
      content: '{{ name }}，积分 {{ attributes.points | round }} https://shop.example.com/d11',
    },
  });
  result.campaign_id = campaign.id;
  const trigger = await api(`/campaigns/${campaign.id}/trigger`, { method: 'POST', body: { execution_type: 'actual' } });
  for (let i = 0; ; i++) {
    check(i < 120, 'the send completes within 60 s');
    const e = await api(`/executions/${trigger.execution_id}`);
    if (e.status === 'completed') break;
    await new Promise((r) => setTimeout(r, 500));
  }
  if (sink) {
    // Customers click the tracked link of the message they got (on this service's address).
    const links = readFileSync(sink, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line).body.match(/https?:\/\/\S+\/t\/c\/\S+/)?.[0])
      .filter(Boolean);
    check(links.length === AUDIENCE - FAILING, `a tracked link in each message sent (${links.length})`);
    for (const link of links.slice(0, CLICKS)) {
      const r = await fetch(base + link.slice(link.indexOf('/t/c/')), { redirect: 'manual' });
      check(r.status === 302, `a click redirects (${r.status})`);
    }
    result.clicks = CLICKS;
  }

  const page = await signedIn(browser, `/campaigns/${campaign.id}`);
  await page.getByTestId('report').waitFor();

  // The hourly chart: drawn on its canvas, with exactly the API's hours (the empty hours between
  // them, which the API leaves out, drawn as 0).
  let hourly;
  let drawn;
  for (let i = 0; ; i++) {
    hourly = await api(`/campaigns/${campaign.id}/stats/hourly`);
    const chart = page.getByTestId('hourly-chart');
    await chart.locator('canvas').waitFor();
    drawn = {
      hours: JSON.parse((await chart.getAttribute('data-hours')) ?? '[]'),
      series: JSON.parse((await chart.getAttribute('data-series')) ?? '{}'),
    };
    const sum = (m) => hourly.hours.reduce((a, h) => a + h[m], 0);
    const same = ['sent', 'delivered', 'opened', 'clicked'].every(
      (m) =>
        drawn.series[m].reduce((a, b) => a + b, 0) === sum(m) &&
        hourly.hours.every((h) => drawn.series[m][drawn.hours.indexOf(new Date(h.hour).toISOString())] === h[m]),
    );
    if (same && sum('sent') + sum('send_failed') === AUDIENCE && sum('clicked') === (sink ? CLICKS : 0)) break;
    check(i < 20, `the chart ${JSON.stringify(drawn)} equals the API ${JSON.stringify(hourly)}`);
    await page.waitForTimeout(500);
    await page.getByTestId('hourly').getByRole('button', { name: '刷新' }).click();
    await page.waitForTimeout(300);
  }
  const painted = await page
    .getByTestId('hourly-chart')
    .locator('canvas')
    .evaluate((c) => {
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
      return n;
    });
  check(painted > 1000, `the chart's canvas is drawn (${painted} pixels)`);
  // The table under the chart: one row per API hour, the same figures.
  const rows = await page.getByTestId('hourly-table').locator('tbody tr').evaluateAll((trs) =>
    trs.map((tr) => ({
      hour: tr.dataset.hour,
      ...Object.fromEntries([...tr.querySelectorAll('td[data-field]')].map((td) => [td.dataset.field, td.textContent])),
    })),
  );
  check(rows.length === hourly.hours.length, `${rows.length} table rows for ${hourly.hours.length} hours`);
  for (const [i, h] of hourly.hours.entries()) {
    for (const k of ['sent', 'send_failed', 'delivered', 'opened', 'clicked', 'converted']) {
      check(number(rows[i][k]) === h[k], `hour ${h.hour} ${k}: table ${rows[i][k]}, API ${h[k]}`);
    }
  }
  result.hourly_api = hourly.hours;
  result.hourly_drawn = drawn;

  // The records browser: failed records, exactly the API's, with their errors.
  const browserBox = page.getByTestId('records-browser');
  await browserBox.locator('select[name=record_status]').selectOption('failed');
  await browserBox.getByRole('button', { name: '筛选' }).click();
  const failedApi = await apiPages(campaign.id, 'failed');
  await page.waitForFunction(
    (n) => document.querySelectorAll('[data-testid=records] tbody tr[data-status=failed]').length === n &&
      document.querySelectorAll('[data-testid=records] tbody tr').length === n,
    failedApi[0].length,
  );
  const failedShown = await shownIds(page);
  check(JSON.stringify(failedShown) === JSON.stringify(failedApi[0]), 'the failed records are the API\'s');
  check(failedApi.length === 1, 'the failed records fit one page');
  check(await page.getByTestId('records-next').isDisabled(), 'no next page after the last');
  const firstError = await page.getByTestId('records').locator('tbody tr td.error').first().textContent();
  check(firstError.includes('cannot be rendered'), `the error is shown: ${firstError}`);
  result.failed_shown = failedShown;
  await page.getByTestId('hourly').scrollIntoViewIfNeeded();
  await shot(page, '40-report-hourly-records');

  // Sent records: three pages by cursor, each exactly the API's; then back to page 2.
  await browserBox.locator('select[name=record_status]').selectOption('sent');
  await browserBox.getByRole('button', { name: '筛选' }).click();
  const sentApi = await apiPages(campaign.id, 'sent');
  check(sentApi.length >= 2, `several pages of sent records (${sentApi.length})`);
  const sentShown = [];
  for (const [i, ids] of sentApi.entries()) {
    await page.getByTestId('records-page').filter({ hasText: `第 ${i + 1} 页` }).waitFor();
    await page.waitForFunction(
      (first) => document.querySelector('[data-testid=records] tbody tr')?.dataset.recordId === first,
      ids[0],
    );
    const shown = await shownIds(page);
    check(JSON.stringify(shown) === JSON.stringify(ids), `page ${i + 1} of sent records is the API's`);
    sentShown.push(shown);
    if (i === 1) {
      await page.getByTestId('records').scrollIntoViewIfNeeded();
      await shot(page, '41-report-records-page2');
    }
    if (i < sentApi.length - 1) await page.getByTestId('records-next').click();
  }
  check(await page.getByTestId('records-next').isDisabled(), 'the last page has no next');
  await page.getByTestId('records-previous').click();
  await page.getByTestId('records-page').filter({ hasText: `第 ${sentApi.length - 1} 页` }).waitFor();
  await page.waitForFunction(
    (first) => document.querySelector('[data-testid=records] tbody tr')?.dataset.recordId === first,
    sentApi[sentApi.length - 2][0],
  );
  result.sent_pages = sentShown.map((p) => p.length);
  result.sent_shown = sentShown.flat();

  // In English.
  await page.getByRole('button', { name: 'English' }).click();
  await page.getByRole('heading', { name: 'Hour by hour' }).waitFor();
  await page.getByTestId('hourly-chart').locator('canvas').waitFor();
  await shot(page, '42-report-en');
  await page.getByRole('button', { name: '中文' }).click().catch(() => {});

  // Templates: a syntax error on line 3 of the HTML body.
  const tpl = await signedIn(browser, '/templates');
  await tpl.getByRole('heading', { name: '内容模板' }).waitFor();
  await tpl.getByRole('button', { name: '新建模板' }).click();
  await tpl.getByRole('heading', { name: '新建模板' }).waitFor();
  const name = `双11 邮件 ${tag}`;
  await tpl.fill('input[name=name]', name);
  await tpl.selectOption('select[name=channel]', 'email');
  await tpl.fill('textarea[name=subject]', '{{ name }}，您的双11礼券');
  await tpl.fill('textarea[name=body]', '{{ name }}，积分 {{ attributes.points | default(0) }}\n活动截止 {{ campaign.end_time | datetime }}');
  const broken = '<h1>{{ name }}，您好</h1>\n<p>双11 礼券已到账</p>\n{% if attributes.points > 1000 %}\n<p>VIP 专享</p>\n{% endif %}';
  await tpl.fill('textarea[name=html_body]', broken.replace('{% if attributes.points > 1000 %}', '{% if attributes.points > 1000 }'));
  await tpl.getByRole('button', { name: '保存' }).click();
  const part = tpl.getByTestId('part-html_body');
  const alert = part.locator('[role=alert]');
  await alert.waitFor();
  const message = await alert.textContent();
  check(message.includes('(line 3)') && message.includes('第 3 行'), `the error names line 3: ${message}`);
  check((await part.locator('.gutter [data-line].marked').count()) === 1, 'one line is marked');
  check((await part.locator('.gutter [data-line="3"].marked').count()) === 1, 'line 3 is marked');
  check(await part.locator('.line-mark').isVisible(), 'line 3 is marked behind the text');
  check((await tpl.getByTestId('part-body').locator('[role=alert]').count()) === 0, 'no error on the text body');
  const selected = await part.locator('textarea').evaluate((t) => t.value.slice(t.selectionStart, t.selectionEnd));
  check(selected === '{% if attributes.points > 1000 }', `line 3 is selected: ${selected}`);
  check(tpl.url().endsWith('/templates/new'), 'nothing was created');
  result.template_error = { message, marked: 3 };
  await shot(tpl, '43-templates-error');

  // Fixed, it saves; the preview for a customer shows their name.
  await tpl.fill('textarea[name=html_body]', broken);
  check((await part.locator('.gutter .marked').count()) === 0, 'the mark goes with the edit');
  await tpl.getByRole('button', { name: '保存' }).click();
  await tpl.getByRole('heading', { name: '编辑模板' }).waitFor();
  const templateId = tpl.url().split('/').pop();
  result.template_id = templateId;
  const preview = tpl.getByTestId('template-preview');
  await preview.locator('input[name=preview_q]').fill(`${tag}-7`);
  await preview.getByRole('button', { name: '查找' }).click();
  await preview.getByRole('button', { name: /^报告客户7\s/ }).click();
  const body = await preview.getByTestId('preview-body').textContent();
  const subject = await preview.getByTestId('preview-subject').textContent();
  check(body.includes('报告客户7') && body.includes('积分 1007'), `the preview shows the customer: ${body}`);
  check(subject.startsWith('报告客户7'), `the subject shows the customer: ${subject}`);
  const html = await preview.getByTestId('preview-html').getAttribute('srcdoc');
  check(html.includes('报告客户7') && html.includes('VIP 专享'), 'the HTML part is rendered for them');
  // …and shown in its sandboxed frame.
  const frame = preview.getByTestId('preview-html').contentFrame();
  await frame.getByRole('heading', { name: '报告客户7，您好' }).waitFor();
  result.preview = { body, subject };
  // A full-page screenshot leaves a sandboxed frame blank: a viewport as tall as the page instead.
  const height = await tpl.evaluate(() => document.documentElement.scrollHeight);
  await tpl.setViewportSize({ width: 1280, height });
  await tpl.screenshot({ path: join(shots, '44-templates-preview.png') });
  await tpl.setViewportSize({ width: 1280, height: 860 });

  // The list by channel shows it.
  await tpl.getByRole('button', { name: '返回' }).click();
  await tpl.selectOption('select[name=channel]', 'email');
  await tpl.fill('input[name=name]', name);
  await tpl.getByRole('button', { name: '筛选' }).click();
  // The unfiltered list may show it too: wait for the filtered answer, one row.
  await tpl.waitForFunction(
    (n) => {
      const rows = document.querySelectorAll('[data-testid=template-table] tbody tr');
      return rows.length === 1 && rows[0].textContent.includes(n);
    },
    name,
  );
  await shot(tpl, '45-templates-list');
});
