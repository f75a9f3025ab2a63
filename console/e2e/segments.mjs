// End-to-end: segments in a real browser against a real campaign-svc.
//
// Seeds 300 customers through the API (every one tagged with this run's tag; some `vip`,
// attribute `level` gold or silver, some with a `purchase` event in the last 30 days, some with
// one 60 days ago), builds in the visual builder
//   run-tag AND ((vip AND level = gold) OR NOT (purchase within 30 days))
// and checks that the live count equals `POST /segments/count` with the rule the page shows, and
// what the seeded data implies (computed here); an API error (an event name over 100 characters)
// is shown on the condition it names; the saved segment is listed with that count and reopens,
// in English, as the same rule; a stale save is refused. e2e/customers.mjs continues with this
// run's customers.
//
// Prints `RESULT {json}` last (`run_tag` for customers.mjs); exits 1 on any failure. Started by
// dispatch-worker/tests/delivery/console/segments.rs, which checks the result against the API
// and the database.
import { api, check, number, run, shot, signedIn } from './lib.mjs';

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

  // The JSON is editable: applied, it becomes the builder's tree and the count follows.
  const vipRule = { and: [{ tag: run_tag }, { tags_any: ['vip'] }] };
  await page.getByTestId('rule-json').fill(JSON.stringify(vipRule));
  await page.getByRole('button', { name: 'Apply JSON' }).click();
  await page.locator('[data-path="rule.and[1]"][data-kind=tag]').waitFor();
  const vips = people.filter((p) => p.vip).length;
  await page.getByTestId('live-count').filter({ hasText: new RegExp(`^${vips}$`) }).waitFor({ timeout: 15_000 });
  check(
    JSON.stringify(JSON.parse(await page.getByTestId('rule-json').inputValue())) === JSON.stringify(vipRule),
    'the applied JSON round-trips through the builder',
  );
  result.vip_count = vips;

  // A stale save is refused: the segment changed through the API after this page read it, and
  // the page's save (with the version it read as If-Match) changes nothing.
  const before = await api(`/segments/${result.segment_id}`);
  await api(`/segments/${result.segment_id}`, {
    method: 'PUT',
    body: { name: before.name, description: 'changed elsewhere', rule: before.rule },
  });
  await page.getByRole('button', { name: 'Save segment' }).click();
  await page.getByRole('alert').filter({ hasText: 'Someone changed this segment' }).waitFor();
  const after = await api(`/segments/${result.segment_id}`);
  check(
    after.description === 'changed elsewhere' && JSON.stringify(after.rule) === JSON.stringify(before.rule),
    `the stale save changed nothing: ${JSON.stringify(after)}`,
  );
  result.stale_save_refused = true;
});
