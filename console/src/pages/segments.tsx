// The segments section: every path under /segments (see SECTIONS in src/App.tsx). The list with
// each segment's current count; the editor (new or saved) with the visual rule builder, the live
// count of the unsaved rule (debounced `POST /segments/count`) and the rule as JSON.
import { useEffect, useMemo, useState, type FormEvent } from 'react';
import { useI18n, type Key } from '../i18n';
import { api, ApiFailure } from '../api/client';
import type { Segment } from '../api/types';
import { matchRoute, navigate } from '../router';
import { Link } from '../Link';
import { formatCount } from '../format';
import {
  fromJson,
  newGroup,
  nodeForField,
  toJson,
  validate,
  type Json,
  type Problem,
  type RuleNode,
} from '../segmentRule';
import { RuleNodeView, type NodeProblem } from './SegmentBuilder';

export function SegmentsSection({ path }: { path: string }) {
  let params: Record<string, string> | null;
  if (matchRoute('/segments/new', path)) return <SegmentEditor key="new" />;
  if ((params = matchRoute('/segments/:id', path))) return <SegmentEditor key={params.id} id={params.id} />;
  return <SegmentList />;
}

type Failure = { field: string | null; message: string };
const failureOf = (err: unknown): Failure =>
  err instanceof ApiFailure
    ? { field: err.error.field ?? null, message: err.error.message }
    : { field: null, message: (err as Error).message };

function SegmentList() {
  const { t, lang } = useI18n();
  const [segments, setSegments] = useState<Segment[] | null>(null);
  const [counts, setCounts] = useState<Record<string, number | string>>({});
  const [error, setError] = useState<string | null>(null);
  const [deleting, setDeleting] = useState<Segment | null>(null);
  const [reload, setReload] = useState(0);

  useEffect(() => {
    let live = true;
    api
      .listSegments()
      .then((d) => {
        if (!live) return;
        setSegments(d.segments);
        for (const s of d.segments) {
          api
            .segmentCount(s.id)
            .then((n) => live && setCounts((c) => ({ ...c, [s.id]: n })))
            .catch((e: unknown) => live && setCounts((c) => ({ ...c, [s.id]: failureOf(e).message })));
        }
      })
      .catch((e: unknown) => live && setError(failureOf(e).message));
    return () => {
      live = false;
    };
  }, [reload]);

  async function remove(s: Segment) {
    try {
      await api.deleteSegment(s.id);
      setDeleting(null);
      setReload((n) => n + 1);
    } catch (e) {
      setDeleting(null);
      setError(t('seg.deleteFailed', { name: s.name, message: failureOf(e).message }));
    }
  }

  return (
    <section>
      <div className="row between">
        <h1>{t('nav.segments')}</h1>
        <button type="button" onClick={() => navigate('/segments/new')}>
          {t('seg.new')}
        </button>
      </div>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {!segments ? (
        <p className="muted">{t('common.loading')}</p>
      ) : segments.length === 0 ? (
        <p className="muted card">{t('seg.none')}</p>
      ) : (
        <table className="grid" data-testid="segments">
          <thead>
            <tr>
              <th>{t('seg.name')}</th>
              <th>{t('seg.description')}</th>
              <th className="num">{t('seg.count')}</th>
              <th>{t('seg.updated')}</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {segments.map((s) => {
              const c = counts[s.id];
              return (
                <tr key={s.id} data-id={s.id}>
                  <td>
                    <Link to={`/segments/${s.id}`}>
                      {s.name}
                    </Link>
                  </td>
                  <td className="muted">{s.description}</td>
                  <td className="num" data-testid="segment-count">
                    {c === undefined ? '…' : typeof c === 'number' ? formatCount(c, lang) : <span className="error">{c}</span>}
                  </td>
                  <td className="muted">{new Date(s.updated_at).toLocaleString()}</td>
                  <td>
                    <button type="button" className="secondary small" onClick={() => setDeleting(s)}>
                      {t('seg.delete')}
                    </button>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {deleting && (
        <div className="modal" role="dialog" aria-modal="true">
          <div className="card">
            <p data-testid="confirm-text">{t('seg.deleteConfirm', { name: deleting.name })}</p>
            <div className="row">
              <button type="button" onClick={() => void remove(deleting)}>
                {t('seg.delete')}
              </button>
              <button type="button" className="secondary" onClick={() => setDeleting(null)}>
                {t('common.cancel')}
              </button>
            </div>
          </div>
        </div>
      )}
    </section>
  );
}

type CountState =
  | { state: 'idle' }
  | { state: 'invalid'; problems: number }
  | { state: 'counting'; last: number | null }
  | { state: 'done'; count: number }
  | { state: 'failed'; failure: Failure };

const PROBLEM_KEYS: Record<Problem['code'], Key> = {
  required: 'seg.problem.required',
  number: 'seg.problem.number',
  integer: 'seg.problem.integer',
  days: 'seg.problem.days',
  count: 'seg.problem.count',
  month: 'seg.problem.month',
  uuid: 'seg.problem.uuid',
  time: 'seg.problem.time',
  children: 'seg.problem.children',
  json: 'seg.problem.json',
  path: 'seg.problem.path',
};

const COUNT_DEBOUNCE_MS = 350;

function SegmentEditor({ id }: { id?: string }) {
  const { t } = useI18n();
  const [loaded, setLoaded] = useState(!id);
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [tree, setTree] = useState<RuleNode>(() => newGroup('and'));
  const [count, setCount] = useState<CountState>({ state: 'idle' });
  const [saveError, setSaveError] = useState<Failure | null>(null);
  const [etag, setEtag] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const [campaigns, setCampaigns] = useState<{ id: string; name: string }[]>([]);
  const [jsonDraft, setJsonDraft] = useState<string | null>(null);
  const [jsonError, setJsonError] = useState<string | null>(null);

  useEffect(() => {
    api
      .listCampaigns({ page_size: 100 })
      .then((d) => setCampaigns(d.campaigns.map((c) => ({ id: c.id, name: c.name }))))
      .catch(() => setCampaigns([]));
    if (!id) return;
    api
      .getSegment(id)
      .then(({ segment: s, etag: version }) => {
        setEtag(version);
        setName(s.name);
        setDescription(s.description);
        setTree(fromJson(s.rule as Json));
        setLoaded(true);
      })
      .catch((e: unknown) => setSaveError(failureOf(e)));
  }, [id]);

  const rule = useMemo(() => toJson(tree), [tree]);
  const ruleText = useMemo(() => JSON.stringify(rule, null, 2), [rule]);
  const problems = useMemo(() => validate(tree), [tree]);

  // The live count: every edit, once typing pauses, asks the API about the unsaved rule.
  useEffect(() => {
    if (!loaded) return;
    if (problems.length > 0) {
      setCount({ state: 'invalid', problems: problems.length });
      return;
    }
    const abort = new AbortController();
    setCount((c) => ({ state: 'counting', last: c.state === 'done' ? c.count : c.state === 'counting' ? c.last : null }));
    const timer = window.setTimeout(() => {
      api
        .countRule(rule as Record<string, never>, abort.signal)
        .then((n) => setCount({ state: 'done', count: n }))
        .catch((e: unknown) => {
          if (!abort.signal.aborted) setCount({ state: 'failed', failure: failureOf(e) });
        });
    }, COUNT_DEBOUNCE_MS);
    return () => {
      window.clearTimeout(timer);
      abort.abort();
    };
  }, [ruleText, loaded]); // eslint-disable-line react-hooks/exhaustive-deps

  // Problems on nodes: the builder's own, the live count's API error, the save's API error.
  const byNode = useMemo(() => {
    const map = new Map<string, NodeProblem[]>();
    const put = (field: string, message: string) => {
      const at = nodeForField(tree, field);
      if (!at) return false;
      map.set(at.id, [...(map.get(at.id) ?? []), { rest: at.rest, message }]);
      return true;
    };
    for (const p of problems) put(p.field, t(PROBLEM_KEYS[p.code]));
    if (count.state === 'failed' && count.failure.field) put(count.failure.field, count.failure.message);
    if (saveError?.field?.startsWith('rule')) put(saveError.field, saveError.message);
    return map;
  }, [problems, count, saveError, tree, t]);

  async function save(e: FormEvent) {
    e.preventDefault();
    setSaving(true);
    setSaveError(null);
    try {
      const body = { name, description, rule: rule as Record<string, never> };
      if (id) await api.updateSegment(id, body, etag);
      else await api.createSegment(body);
      navigate('/segments');
    } catch (err) {
      // Someone saved it since this page read it: theirs stays; reload to see it.
      if (err instanceof ApiFailure && err.status === 412) setSaveError({ field: null, message: t('seg.conflict') });
      else setSaveError(failureOf(err));
    } finally {
      setSaving(false);
    }
  }

  function applyJson() {
    if (jsonDraft === null) return;
    try {
      setTree(fromJson(JSON.parse(jsonDraft) as Json));
      setJsonDraft(null);
      setJsonError(null);
    } catch (err) {
      setJsonError((err as Error).message);
    }
  }

  const fieldError = (field: string) =>
    saveError?.field === field ? (
      <span className="error" role="alert">
        {saveError.message}
      </span>
    ) : null;

  if (!loaded)
    return saveError ? (
      <p className="error" role="alert">
        {t('common.error', { message: saveError.message })}
      </p>
    ) : (
      <p className="muted">{t('common.loading')}</p>
    );

  return (
    <section>
      <h1>{id ? t('seg.edit') : t('seg.new')}</h1>
      <form onSubmit={save}>
        <div className="card form">
          <div className="row">
            <label className="seg-name">
              {t('seg.name')}
              <input name="name" value={name} onChange={(e) => setName(e.target.value)} />
              {fieldError('name')}
            </label>
            <label className="grow">
              {t('seg.description')}
              <input name="description" value={description} onChange={(e) => setDescription(e.target.value)} />
              {fieldError('description')}
            </label>
          </div>
        </div>
        <div className="seg-layout">
          <div className="card seg-builder">
            <h2>{t('seg.rule')}</h2>
            <RuleNodeView node={tree} path="rule" root onChange={(n) => n && setTree(n)} problems={byNode} campaigns={campaigns} />
          </div>
          <aside className="seg-side">
            <div className="card seg-count" aria-live="polite">
              <div className="muted">{t('seg.liveCount')}</div>
              <LiveCount count={count} />
            </div>
            <div className="card">
              <h3>{t('seg.json')}</h3>
              <textarea
                name="rule-json"
                data-testid="rule-json"
                rows={14}
                spellCheck={false}
                value={jsonDraft ?? ruleText}
                onChange={(e) => setJsonDraft(e.target.value)}
              />
              {jsonError && (
                <p className="error" role="alert">
                  {t('seg.jsonInvalid', { message: jsonError })}
                </p>
              )}
              {jsonDraft !== null && (
                <div className="row">
                  <button type="button" onClick={applyJson}>
                    {t('seg.jsonApply')}
                  </button>
                  <button
                    type="button"
                    className="secondary"
                    onClick={() => {
                      setJsonDraft(null);
                      setJsonError(null);
                    }}
                  >
                    {t('seg.jsonRevert')}
                  </button>
                </div>
              )}
            </div>
          </aside>
        </div>
        {saveError && !saveError.field?.startsWith('rule') && !['name', 'description'].includes(saveError.field ?? '') && (
          <p className="error" role="alert">
            {t('common.error', { message: saveError.message })}
          </p>
        )}
        {saveError?.field?.startsWith('rule') && (
          <p className="error" role="alert">
            {t('seg.ruleRefused')}
          </p>
        )}
        <div className="row">
          <button type="submit" disabled={saving}>
            {t('seg.save')}
          </button>
          <button type="button" className="secondary" onClick={() => navigate('/segments')}>
            {t('common.cancel')}
          </button>
        </div>
      </form>
    </section>
  );
}

function LiveCount({ count }: { count: CountState }) {
  const { t, lang } = useI18n();
  switch (count.state) {
    case 'idle':
      return <div className="seg-count-value">—</div>;
    case 'invalid':
      return <div className="seg-count-note">{t('seg.countInvalid', { count: count.problems })}</div>;
    case 'counting':
      return (
        <div className="seg-count-value stale" data-testid="live-count-pending">
          {count.last === null ? '…' : formatCount(count.last, lang)}
        </div>
      );
    case 'done':
      return (
        <>
          <div className="seg-count-value" data-testid="live-count">
            {formatCount(count.count, lang)}
          </div>
          <div className="muted">{t('seg.countUnit')}</div>
        </>
      );
    case 'failed':
      return (
        <div className="error" role="alert">
          {count.failure.field ? <code>{count.failure.field}</code> : null} {count.failure.message}
        </div>
      );
  }
}
