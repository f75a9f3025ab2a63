// End-to-end: creating and editing a campaign in a real browser against a real campaign-svc.
// A segment audience with its live count (equal to the API's); content with a syntax error shown
// on the content field with its line, then fixed and rendered for a chosen customer; two A/B
// variants with weights (a bad weight shown on its input); a recurring trigger (a bad cron shown
// on its input) with quiet hours; save; edit the name (a stale edit is refused with 412 and
// reloaded); the API holds the new values; archive.
// Screenshots 20–24 (zh, and the edit form in en) go to SCREENSHOT_DIR.
//
// Environment (besides e2e/lib.mjs's): E2E_SEGMENT_ID and E2E_CUSTOMER_ID (a segment and one
// of its customers, seeded by dispatch-worker/tests/delivery/console/campaign_edit.rs); without
// them the script seeds its own through the API. Prints `RESULT {json}` last; exits 1 on failure.
import { api, check, number, run, shot, signedIn } from './lib.mjs';

async function seed() {
  const run = Date.now();
  const tag = `edit-${run}`;
  const customers = Array.from({ length: 7 }, (_, i) => ({
    external_id: `edit-${run}-${i}`,
    name: i === 0 ? '李雷' : `客户${i}`,
    phone: `+86138${String(run % 100000).padStart(5, '0')}${String(i).padStart(3, '0')}`,
    tags: [tag],
    attributes: { city: '上海' },
  }));
  await api('/customers/bulk', { method: 'POST', body: { customers } });
  const segment = await api('/segments', { method: 'POST', body: { name: `编辑测试分群 ${run}`, rule: { tag } } });
  const found = await api(`/customers?external_id=${customers[0].external_id}`);
  return { segmentId: segment.id, customerId: found.customers[0].id };
}

await run(async (browser, result) => {
  const { segmentId, customerId } = process.env.E2E_SEGMENT_ID
    ? { segmentId: process.env.E2E_SEGMENT_ID, customerId: process.env.E2E_CUSTOMER_ID }
    : await seed();
  const chosen = await api(`/customers/${customerId}`);
  const page = await signedIn(browser, '/campaigns/new');
  // What went wrong, when something does: the API's refusals and a screenshot.
  page.on('response', async (r) => {
    if (r.url().includes('/api/') && r.status() >= 400) {
      console.error(`${r.request().method()} ${r.url()} → ${r.status()} ${await r.text().catch(() => '')}`);
    }
  });
  try {
    await flow(page, result, segmentId, chosen);
  } catch (e) {
    await shot(page, 'edit-failure');
    throw e;
  }
});

async function flow(page, result, segmentId, chosen) {
  await page.getByRole('heading', { name: '新建营销活动' }).waitFor();
  const name = `编辑流程 ${Date.now()}`;
  await page.fill('input[name=name]', name);

  // Audience: a saved segment, counted live; the figure equals the API's count.
  await page.check('input[name=audience][value=segment]');
  await page.selectOption('select[name=target_segment_id]', segmentId);
  const count = page.locator('[data-testid=audience-count][data-state=done]');
  await count.waitFor({ timeout: 15_000 });
  const apiCount = (await api(`/segments/${segmentId}/count`)).count;
  result.live_count = number(await count.textContent());
  result.api_count = apiCount;
  check(result.live_count === apiCount, `live count ${result.live_count} = API count ${apiCount}`);

  // Preview customer: searched by external id and chosen.
  await page.fill('input[name=preview_customer]', chosen.external_id);
  await page.getByTestId('customer-results').getByRole('button').first().click();
  await page.getByTestId('preview-customer').filter({ hasText: chosen.name }).waitFor();

  // Content with a syntax error on line 2: shown on the content field with its line.
  await page.fill('textarea[name=content]', '{{ name }}，您好！\n{{ attributes.city 会员专享');
  const contentError = page.locator('[data-field=content]');
  await contentError.waitFor({ timeout: 15_000 });
  result.content_error = await contentError.textContent();
  check(result.content_error.includes('第 2 行'), `the error names line 2: ${result.content_error}`);
  await shot(page, '20-edit-content-error');

  // Fixed: the preview renders it for the chosen customer.
  await page.fill('textarea[name=content]', '{{ name }}，您好！\n{{ attributes.city }}会员专享双12好礼');
  await contentError.waitFor({ state: 'detached' });
  const previewBody = page.getByTestId('preview-body');
  await previewBody.filter({ hasText: '会员专享双12好礼' }).waitFor({ timeout: 15_000 });
  result.preview = await previewBody.textContent();
  check(result.preview.startsWith(`${chosen.name}，您好！`), `the preview is ${chosen.name}'s: ${result.preview}`);
  check(result.preview.includes('上海会员专享'), `attributes rendered: ${result.preview}`);

  // Two A/B variants: a weight the API refuses is shown on its input, then 30/70.
  await page.check('input[name=content_kind][value=variants]');
  await page.fill('textarea[name="variants[1].content"]', '{{ name }}，全场8折');
  await page.fill('input[name="variants[1].weight"]', '0');
  const weightError = page.locator('[data-field="variants[1].weight"]');
  await weightError.waitFor({ timeout: 15_000 });
  result.weight_error = await weightError.textContent();
  await page.fill('input[name="variants[0].weight"]', '30');
  await page.fill('input[name="variants[1].weight"]', '70');
  await weightError.waitFor({ state: 'detached' });
  result.split = await page.getByTestId('variant-split').textContent();
  check(result.split.includes('A 30%') && result.split.includes('B 70%'), `split shown: ${result.split}`);
  await page.getByTestId('preview-body').waitFor();
  result.variant_preview = await page.getByTestId('preview').textContent();

  // A recurring trigger (a bad cron on its input first), local time zone and quiet hours.
  await page.check('input[name="trigger.kind"][value=recurring]');
  await page.fill('input[name="trigger.cron"]', 'every morning');
  const cronError = page.locator('[data-field="trigger.cron"]');
  await cronError.waitFor({ timeout: 15_000 });
  result.cron_error = await cronError.textContent();
  await page.fill('input[name="trigger.cron"]', '0 9 * * *');
  await cronError.waitFor({ state: 'detached' });
  await page.fill('input[name=time_zone]', 'Asia/Shanghai');
  await page.fill('input[name="quiet_hours.start"]', '21:00');
  await page.fill('input[name="quiet_hours.end"]', '08:00');
  await page.getByTestId('preview-body').waitFor();
  await shot(page, '21-edit-create');

  await page.getByRole('button', { name: '创建活动' }).click();
  await page.getByTestId('campaign-name').filter({ hasText: name }).waitFor();
  const campaignId = page.url().split('/').pop();
  result.campaign_id = campaignId;

  // Edit: the form shows the saved campaign; a new name is saved with PUT.
  await page.getByRole('button', { name: '编辑', exact: true }).click();
  await page.getByRole('heading', { name: '编辑营销活动' }).waitFor();
  check((await page.inputValue('input[name=name]')) === name, 'the edit form shows the name');
  check((await page.inputValue('input[name="trigger.cron"]')) === '0 9 * * *', 'the edit form shows the cron');
  check((await page.inputValue('input[name="variants[1].weight"]')) === '70', 'the edit form shows the weights');
  await page.locator('[data-testid=audience-count][data-state=done]').waitFor({ timeout: 15_000 });
  await shot(page, '22-edit-form');
  // Someone else changes it meanwhile: the save (If-Match: the ETag read) is refused with 412
  // and the page asks to reload, which shows their change.
  const theirName = `${name}（他人修改）`;
  await api(`/campaigns/${campaignId}`, { method: 'PUT', body: { name: theirName } });
  const newName = `${name}（已改）`;
  await page.fill('input[name=name]', newName);
  await page.getByRole('button', { name: '保存修改' }).click();
  await page.getByTestId('stale').waitFor();
  result.stale_refused = (await api(`/campaigns/${campaignId}`)).name === theirName;
  check(result.stale_refused, 'the stale save changed nothing');
  await page.getByTestId('stale').getByRole('button', { name: '重新加载' }).click();
  await page.waitForFunction((n) => document.querySelector('input[name=name]')?.value === n, theirName);
  await page.fill('input[name=name]', newName);
  await page.getByRole('button', { name: '保存修改' }).click();
  await page.getByTestId('campaign-name').filter({ hasText: newName }).waitFor();
  result.new_name = newName;
  const saved = await api(`/campaigns/${campaignId}`);
  result.saved = {
    name: saved.name,
    status: saved.status,
    target_segment_id: saved.target_segment_id,
    variants: saved.variants.map((v) => ({ key: v.key, weight: v.weight, content: v.content })),
    trigger: saved.trigger,
    time_zone: saved.time_zone,
    quiet_hours: saved.quiet_hours,
  };
  check(saved.name === newName, `the API has the new name: ${saved.name}`);

  // The edit form in English.
  await page.goto(page.url().replace(/\/campaigns\/.*/, `/campaigns/${campaignId}/edit`));
  await page.getByRole('heading', { name: '编辑营销活动' }).waitFor();
  await page.getByRole('button', { name: 'English' }).click();
  await page.getByRole('heading', { name: 'Edit campaign' }).waitFor();
  await page.fill('input[name=preview_customer]', chosen.external_id);
  await page.getByTestId('customer-results').getByRole('button').first().click();
  await page.getByTestId('preview-body').waitFor({ timeout: 15_000 });
  await shot(page, '23-edit-form-en');
  await page.getByRole('button', { name: '中文' }).click();
  await page.getByRole('button', { name: '取消' }).click();

  // Archive, confirmed: the archived status shows and the API agrees.
  page.once('dialog', (d) => d.accept());
  await page.getByRole('button', { name: '归档' }).click();
  await page.getByTestId('campaign-status').filter({ hasText: '已归档' }).waitFor();
  await page.getByTestId('archived-note').waitFor();
  check((await page.getByRole('button', { name: '编辑', exact: true }).count()) === 0, 'no edit once archived');
  await shot(page, '24-edit-archived');
  result.archived_status = (await api(`/campaigns/${campaignId}`)).status;
}
