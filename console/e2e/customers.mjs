// End-to-end: customers in a real browser against a real campaign-svc, continuing
// e2e/segments.mjs (E2E_RUN_TAG: its run tag; customers `<tag>-1` 测试客户1 and `<tag>-2`
// 测试客户2 exist). Sends a campaign to the run's customers through the API, looks one customer
// up, sees their message, opts them out of SMS (shown, and the API agrees); erases another after
// the confirmation naming them (the lookup no longer finds them, the API answers 404).
//
// Prints `RESULT {json}` last; exits 1 on any failure. Started by
// dispatch-worker/tests/delivery/console/segments.rs.
import { api, base, check, run, shot, signedIn, token } from './lib.mjs';

const run_tag = process.env.E2E_RUN_TAG;
if (!run_tag) throw new Error('E2E_RUN_TAG is required (the run tag of e2e/segments.mjs)');
const person = (i) => ({ i, external_id: `${run_tag}-${i}` });

/** The raw status of a GET (the lib's `api` fails on anything but 2xx). */
async function status(path) {
  const r = await fetch(`${base}/api/marketing${path}`, { headers: { Authorization: `Bearer ${token}` } });
  return r.status;
}

await run(async (browser, result) => {
  const page = await signedIn(browser, '/customers');
  const people = [person(0), person(1), person(2)];

  // A campaign sent to this run's customers, so the customer page has a recent message.
  const campaign = await api('/campaigns', {
    method: 'POST',
    body: { name: `分群测试短信 ${run_tag}`, type: 'sms', target_tags: [run_tag], content: '[客户姓名]，您好' },
  });
  await api(`/campaigns/${campaign.id}/trigger`, { method: 'POST', body: { execution_type: 'actual' } });
  result.campaign_id = campaign.id;
  result.run_tag = run_tag;

  // Customers: find one by external id, see their message, opt them out of SMS.
  const target = people[1];
  await page.getByRole('heading', { name: '客户' }).waitFor();
  await page.fill('input[name=external_id]', target.external_id);
  await page.getByRole('button', { name: '查找' }).click();
  const rows = page.getByTestId('customers').locator('tbody tr');
  // The lookup's answer replaces the first listing: one row, theirs.
  await page.waitForFunction((id) => {
    const found = document.querySelectorAll('[data-testid=customers] tbody tr');
    return found.length === 1 && found[0].textContent.includes(id);
  }, target.external_id);
  check((await rows.count()) === 1, 'one customer found by external id');
  await shot(page, '64-customers-lookup');
  await rows.first().getByRole('link').click();
  await page.getByTestId('customer-name').filter({ hasText: target.external_id }).waitFor();
  const targetId = page.url().split('/').pop();
  await page.getByTestId('records').locator('tbody tr', { hasText: campaign.name }).waitFor({ timeout: 15_000 });
  await page.locator('select[name=opt-out]').selectOption('sms');
  await page.getByRole('button', { name: '添加退订' }).click();
  await page.getByRole('status').filter({ hasText: '短信' }).waitFor();
  const smsState = await page.locator('[data-channel=sms] [data-testid=opt-out-state]').textContent();
  check(smsState.includes('已退订'), `SMS shown opted out: ${smsState}`);
  check((await page.getByTestId('opt-outs').textContent()).includes('sms'), 'opt-outs list sms');
  const apiCustomer = await api(`/customers/${targetId}`);
  check(apiCustomer.opt_outs.includes('sms'), `the API lists the opt-out: ${apiCustomer.opt_outs}`);
  result.opted_out_customer = targetId;
  await shot(page, '65-customers-page');

  // Erase another after the confirmation naming them.
  const gone = people[2];
  await page.getByRole('button', { name: '返回' }).click();
  await page.fill('input[name=external_id]', gone.external_id);
  await page.getByRole('button', { name: '查找' }).click();
  await rows.filter({ hasText: gone.external_id }).getByRole('link').click();
  await page.getByTestId('customer-name').filter({ hasText: gone.external_id }).waitFor();
  const goneId = page.url().split('/').pop();
  await page.getByRole('button', { name: '删除个人数据' }).click();
  const confirm = await page.getByTestId('erase-confirm').textContent();
  check(confirm.includes(`测试客户${gone.i}`) && confirm.includes(gone.external_id), `confirmation names them: ${confirm}`);
  await shot(page, '66-customers-erase-confirm');
  await page.getByRole('button', { name: '永久删除' }).click();
  await page.getByRole('status').filter({ hasText: '已删除' }).waitFor();
  await page.fill('input[name=external_id]', gone.external_id);
  await page.getByRole('button', { name: '查找' }).click();
  await page.getByTestId('no-customers').waitFor();
  check((await status(`/customers/${goneId}`)) === 404, 'the API answers 404 for the erased customer');
  result.erased_customer = goneId;
});
