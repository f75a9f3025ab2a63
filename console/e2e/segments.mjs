// End-to-end: segments and customers in a real browser against a real campaign-svc.
//
// Segments: seeds 300 customers through the API (every one tagged with this run's tag; some
// `vip`, attribute `level` gold or silver, some with a `purchase` event in the last 30 days, some
// with one 60 days ago), builds in the visual builder
//   run-tag AND ((vip AND level = gold) OR NOT (purchase within 30 days))
// and checks that the live count equals `POST /segments/count` with the rule the page shows, and
// what the seeded data implies (computed here); an API error (an event name over 100 characters)
// is shown on the condition it names; the saved segment is listed with that count and reopens
// as the same rule. Customers: looks one up, opts them out of SMS (shown, and the API agrees);
// erases another after the confirmation naming them (the lookup no longer finds them, the API
// answers 404).
//
// Prints `RESULT {json}` last; exits 1 on any failure. Started by
// dispatch-worker/tests/delivery/console/segments.rs, which checks the result against the API.
import { api, base, check, number, run, shot, signedIn, token } from './lib.mjs';

const N = 300;
const run_tag = `e2e-seg-${Date.now().toString(36)}`;
const DAY = 86_400_000;

/** The seeded population, and which of it the rule selects (computed without the service). */
function population() {
  const people = [];
  for (let i = 0; i < N; i++) {
    const vip = i % 5 === 0;
    const gold = i % 3 === 0;
    const recent = i % 4 === 0; // a purchase now (inside 30 days)
    const old = i % 7 === 0; // a purchase 60 days ago (outside)
    people.push({ i, vip, gold, recent, old, external_id: `${run_tag}-${i}` });
  }
  return people;
}
const selected = (p) => (p.vip && p.gold) || !p.recent;

async function seed(people) {
  await api('/customers/bulk', {
    method: 'POST',
    body: {
      customers: people.map((p) => ({
        external_id: p.external_id,
        name: `测试客户${p.i}`,
        email: `${p.external_id}@example.com`,
        phone: `+86138${String(10_000_000 + p.i * 7).slice(0, 8)}`,
        tags: [run_tag, ...(p.vip ? ['vip'] : [])],
        attributes: { level: p.gold ? 'gold' : 'silver', points: p.i * 10 },
      })),
    },
  });
  const events = [];
  for (const p of people) {
    if (p.recent) events.push({ event_id: `${p.external_id}-now`, external_id: p.external_id, name: 'purchase' });
    if (p.old)
      events.push({
        event_id: `${p.external_id}-old`,
        external_id: p.external_id,
        name: 'purchase',
        occurred_at: new Date(Date.now() - 60 * DAY).toISOString(),
      });
  }
  const reply = await api('/events', { method: 'POST', body: { events } });
  check(reply.accepted === events.length, `events accepted: ${JSON.stringify(reply).slice(0, 300)}`);
}

/** The raw status of a GET (the lib's `api` fails on anything but 2xx). */
async function status(path) {
  const r = await fetch(`${base}/api/marketing${path}`, { headers: { Authorization: `Bearer ${token}` } });
  return r.status;
}

await run(async (browser, result) => {
  const people = population();
  await seed(people);
  const expected = people.filter(selected).length;
  result.run_tag = run_tag;
  result.seeded = N;
  result.expected = expected;

  const page = await signedIn(browser, '/segments');
  await page.getByRole('heading', { name: '客户分群' }).waitFor();
  await page.getByRole('button', { name: '新建分群' }).click();
  await page.getByRole('heading', { name: '新建分群' }).waitFor();

  const node = (path) => page.locator(`[data-path="${path}"]`);
  const head = (path) => node(path).locator(':scope > .seg-head');
  const add = async (path, label) => head(path).getByRole('button', { name: `+ ${label}`, exact: true }).click();

  // run-tag AND (…)
  await add('rule', '标签');
  await head('rule.and[0]').locator('input[name=tags]').fill(run_tag);
  await add('rule', '条件组');
  await head('rule.and[1]').locator('select[name=group-op]').selectOption('or');
  // (vip AND level = gold)
  await add('rule.and[1]', '条件组');
  await add('rule.and[1].or[0]', '标签');
  await head('rule.and[1].or[0].and[0]').locator('input[name=tags]').fill('vip');
  await add('rule.and[1].or[0]', '属性');
  const attr = head('rule.and[1].or[0].and[1]');
  await attr.locator('input[name=attribute]').fill('level');
  await attr.locator('select[name=op]').selectOption('=');
  await attr.locator('select[name=type]').selectOption('string');
  await attr.locator('input[name=value]').fill('gold');
  // OR NOT (purchase within 30 days)
  await add('rule.and[1]', '事件');
  await head('rule.and[1].or[1]').locator('input[name=event]').fill('purchase');
  await head('rule.and[1].or[1]').locator('input[name=within_days]').fill('30');
  await head('rule.and[1].or[1]').getByRole('button', { name: '取反' }).click();
  await node('rule.and[1].or[1]').locator(':scope[data-kind=not]').waitFor();

  const wantRule = {
    and: [
      { tag: run_tag },
      {
        or: [
          { and: [{ tag: 'vip' }, { attribute: 'level', op: '=', value: 'gold' }] },
          { not: { event: 'purchase', within_days: 30 } },
        ],
      },
    ],
  };
  const shown = JSON.parse(await page.getByTestId('rule-json').inputValue());
  check(JSON.stringify(shown) === JSON.stringify(wantRule), `the rule JSON shown: ${JSON.stringify(shown)}`);
  const liveCount = number(await page.getByTestId('live-count').textContent({ timeout: 15_000 }));
  const apiCount = (await api('/segments/count', { method: 'POST', body: { rule: shown } })).count;
  result.ui_count = liveCount;
  result.api_count = apiCount;
  check(liveCount === apiCount, `live count ${liveCount}, POST /segments/count ${apiCount}`);
  check(liveCount === expected, `live count ${liveCount}, the seeded data implies ${expected}`);
  await shot(page, '60-segments-builder');

  // An error only the API finds is shown on the condition its field names, and the count is not.
  await add('rule.and[1]', '事件');
  await head('rule.and[1].or[2]').locator('input[name=event]').fill('x'.repeat(101));
  const apiError = node('rule.and[1].or[2]').locator(':scope > [role=alert]');
  await apiError.waitFor({ timeout: 15_000 });
  result.api_error_on_node = (await apiError.textContent()).trim();
  check(result.api_error_on_node.startsWith('event'), `the API's error names the event: ${result.api_error_on_node}`);
  await shot(page, '61-segments-api-error');
  await head('rule.and[1].or[2]').getByRole('button', { name: '删除' }).click();
  check(number(await page.getByTestId('live-count').textContent({ timeout: 15_000 })) === expected, 'count back');

  // Save: listed with the same count.
  const name = `VIP 金卡或近 30 天未购买 ${run_tag}`;
  await page.fill('input[name=name]', name);
  await page.fill('input[name=description]', '浏览器测试');
  await page.getByRole('button', { name: '保存分群' }).click();
  await page.getByRole('heading', { name: '客户分群' }).waitFor();
  const row = page.getByTestId('segments').locator('tr', { hasText: name });
  await row.getByTestId('segment-count').filter({ hasText: /\d/ }).waitFor({ timeout: 15_000 });
  result.list_count = number(await row.getByTestId('segment-count').textContent());
  result.segment_id = await row.getAttribute('data-id');
  check(result.list_count === expected, `listed count ${result.list_count}, expected ${expected}`);
  await shot(page, '62-segments-list');

  // Reopened, in English: the same rule in the builder.
  await page.getByRole('button', { name: 'English' }).click();
  await row.getByRole('link', { name }).click();
  await page.getByRole('heading', { name: 'Edit segment' }).waitFor();
  await page.getByTestId('live-count').waitFor({ timeout: 15_000 });
  const reopened = JSON.parse(await page.getByTestId('rule-json').inputValue());
  check(JSON.stringify(reopened) === JSON.stringify(wantRule), `reopened rule: ${JSON.stringify(reopened)}`);
  check(number(await page.getByTestId('live-count').textContent()) === expected, 'reopened count');
  await shot(page, '63-segments-builder-en');
  await page.getByRole('button', { name: '中文' }).click().catch(async () => {
    await page.locator('.topbar button.link').first().click();
  });

  // A campaign sent to this run's customers, so the customer page has a recent message.
  const campaign = await api('/campaigns', {
    method: 'POST',
    body: { name: `分群测试短信 ${run_tag}`, type: 'sms', target_tags: [run_tag], content: '[客户姓名]，您好' },
  });
  await api(`/campaigns/${campaign.id}/trigger`, { method: 'POST', body: { execution_type: 'actual' } });
  result.campaign_id = campaign.id;

  // Customers: find one by external id, see their message, opt them out of SMS.
  const target = people[1];
  await page.goto(`${base}/console/customers`);
  await page.getByRole('heading', { name: '客户' }).waitFor();
  await page.fill('input[name=external_id]', target.external_id);
  await page.getByRole('button', { name: '查找' }).click();
  const rows = page.getByTestId('customers').locator('tbody tr');
  await rows.filter({ hasText: target.external_id }).waitFor();
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
