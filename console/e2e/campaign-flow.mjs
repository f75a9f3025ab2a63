// End-to-end: a marketer's first campaign in a real browser against a real campaign-svc and
// dispatch-worker. Sign in → create a campaign, previewed for a customer → dry run (audience) →
// send after the confirmation that states the audience → the progress bar reaches 100% → the
// report's numbers equal the API's. Screenshots of each page go to SCREENSHOT_DIR.
//
// Environment (besides e2e/lib.mjs's): E2E_TAG (customers to target), E2E_AUDIENCE (how many
// carry it). Prints `RESULT {json}` last; exits 1 on any failure.
// Started by dispatch-worker/tests/delivery/console.rs, which provides the service and worker.
import { api, base, check, number, run, shot, token } from './lib.mjs';

const tag = process.env.E2E_TAG ?? 'bulk';
const audience = Number(process.env.E2E_AUDIENCE ?? '0');

await run(async (browser, result) => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: 'zh-CN' });
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));

  // Sign in: a wrong token is refused with a message, the right one opens the campaigns.
  await page.goto(`${base}/console/`);
  await page.getByRole('heading', { name: '登录营销控制台' }).waitFor();
  await page.fill('input[name=token]', 'not-a-token');
  await page.getByRole('button', { name: '登录' }).click();
  await page.getByRole('alert').filter({ hasText: '令牌无效' }).waitFor();
  await shot(page, '01-sign-in');
  await page.fill('input[name=token]', token);
  await page.getByRole('button', { name: '登录' }).click();
  await page.getByRole('heading', { name: '营销活动' }).waitFor();

  // Create: a missing name is named by the API's error, then the campaign is created.
  await page.getByRole('button', { name: '新建活动' }).click();
  await page.getByRole('heading', { name: '新建营销活动' }).waitFor();
  await page.fill('input[name=target_tags]', tag);
  await page.fill('textarea[name=content]', '亲爱的[客户姓名]，{{ attributes.level | default("会员") }}专享双11好礼！');
  await page.getByRole('button', { name: '创建活动' }).click();
  // The API's error is shown on the field it names.
  await page.locator('label:has(input[name=name]) [role=alert]').waitFor();
  const name = `双11 会员关怀 ${Date.now()}`;
  await page.fill('input[name=name]', name);
  // Preview: the message as one customer (found by phone) will read it, before anything is saved.
  await page.fill('input[name=preview_customer]', '+8613800000007');
  await page.getByTestId('customer-results').getByRole('button', { name: /^客户7 · cust-7/ }).click();
  const preview = page.getByTestId('preview-body');
  await preview.filter({ hasText: '专享双11好礼' }).waitFor({ timeout: 15_000 });
  result.preview = (await preview.textContent()).trim();
  // The SMS carries the unsubscribe line after the message.
  check(
    result.preview.split('\n')[0] === '亲爱的客户7，会员专享双11好礼！' && result.preview.includes('退订：'),
    `the preview is 客户7's, rendered: ${JSON.stringify(result.preview)}`,
  );
  await shot(page, '02-new-campaign');
  await page.getByRole('button', { name: '创建活动' }).click();
  await page.getByTestId('campaign-name').filter({ hasText: name }).waitFor();
  const campaignId = page.url().split('/').pop();
  result.campaign_id = campaignId;

  // Dry run: the audience and rendered samples.
  await page.getByRole('button', { name: '试运行（不发送）' }).click();
  await page.getByTestId('dry-run-audience').waitFor({ timeout: 30_000 });
  const dryAudience = number(await page.getByTestId('dry-run-audience').textContent());
  check(dryAudience === audience, `dry run audience ${dryAudience}, expected ${audience}`);
  const firstSample = await page.getByTestId('samples').locator('li').first().textContent();
  check(firstSample.includes('专享双11好礼'), `a rendered sample: ${firstSample}`);
  check(!firstSample.includes('{{'), `the sample is rendered: ${firstSample}`);
  await shot(page, '03-dry-run');

  // Send: the confirmation states the audience size.
  await page.getByRole('button', { name: '发送', exact: true }).click();
  const confirmText = await page.getByTestId('confirm-text').textContent();
  check(number(confirmText.match(/[\d,]+/)[0]) === audience, `confirmation states the audience: ${confirmText}`);
  await shot(page, '04-confirm-send');
  await page.getByTestId('confirm-send').click();

  // Progress: follow the bar until 100% and the execution completed.
  const seen = new Set();
  const started = Date.now();
  let midShot = false;
  for (;;) {
    check(Date.now() - started < 90_000, `the progress bar reached 100% in 90 s (seen ${[...seen]})`);
    const bar = page.getByTestId('progress');
    if (await bar.count()) {
      const percent = await page.getByTestId('progress-percent').textContent();
      seen.add(percent);
      if (!midShot && number(percent) > 0 && number(percent) < 100) {
        await shot(page, '05-progress');
        midShot = true;
      }
      if ((await bar.getAttribute('data-status')) === 'completed' && percent === '100%') break;
    }
    await page.waitForTimeout(100);
  }
  result.progress_seen = [...seen];
  await shot(page, '06-progress-done');

  // Report: the page's funnel equals the API's statistics (counters, read the same moment).
  let matched = false;
  for (let i = 0; i < 20 && !matched; i++) {
    const stats = await api(`/campaigns/${campaignId}/stats`);
    await page.getByTestId('funnel').waitFor();
    const shown = {};
    for (const stage of ['planned', 'sent', 'delivered', 'opened', 'clicked', 'converted', 'failed']) {
      shown[stage] = number(await page.getByTestId(`funnel-${stage}`).textContent());
    }
    const wanted = Object.fromEntries(Object.keys(shown).map((k) => [k, stats.totals[k]]));
    matched = JSON.stringify(shown) === JSON.stringify(wanted) && stats.totals.sent === audience;
    result.report = shown;
    result.api = wanted;
    if (!matched) {
      await page.waitForTimeout(500);
      await page.reload();
    }
  }
  check(matched, `report ${JSON.stringify(result.report)} equals the API ${JSON.stringify(result.api)}`);
  await page.getByTestId('funnel-chart').locator('canvas').waitFor();
  await page.getByTestId('report').scrollIntoViewIfNeeded();
  await shot(page, '07-report');

  // The list: filtered by name and status, then in English.
  await page.getByRole('link', { name: '营销活动' }).click();
  await page.fill('input[name=name]', name);
  await page.selectOption('select[name=status]', 'completed');
  // The campaign turns completed shortly after its execution (the scheduler's next round).
  let rows = 0;
  for (let i = 0; i < 30 && rows !== 1; i++) {
    await page.getByRole('button', { name: '筛选' }).click();
    await page.waitForTimeout(300);
    rows = await page.getByTestId('campaign-table').getByRole('link', { name }).count();
  }
  check(rows === 1, 'the completed campaign is listed by its name');
  check((await page.getByTestId('campaign-table').locator('tbody tr').count()) === 1, 'one campaign matches');
  await shot(page, '08-campaigns');
  await page.getByRole('button', { name: 'English' }).click();
  await page.getByRole('heading', { name: 'Campaigns' }).waitFor();
  await page.getByRole('cell', { name: 'Completed' }).waitFor();
  await shot(page, '09-campaigns-en');
});
