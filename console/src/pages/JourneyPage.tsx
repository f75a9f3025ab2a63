// A journey's page (its flow as a graph with each step's counters, refreshed every few seconds;
// activate, pause, archive, enroll; the definition edited as JSON and saved with If-Match) and
// the new-journey page (the same editor, drawing the text being edited). Loaded lazily.
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { useI18n, type Key } from '../i18n';
import { api, ApiFailure } from '../api/client';
import type { Journey, JourneyStats } from '../api/types';
import { navigate } from '../router';
import { formatCount } from '../format';
import { definitionGraph, stepOfField } from '../journeys/graph';
import {
  countsByStep,
  definitionText,
  parseDefinition,
  statsVersions,
  type SyntaxFault,
} from '../journeys/definition';
import { JourneyGraph } from './JourneyGraph';
import { JourneyEnroll } from './JourneyEnroll';
import { entryText } from './journeys';

/** How often the counters are read again. */
const REFRESH_SECONDS = 3;

// A starting point for a new journey (the README's welcome series, customers entered by hand).
const EXAMPLE = {
  name: '新客欢迎',
  entry: { kind: 'manual' },
  start: 'welcome',
  steps: {
    welcome: { type: 'send', channel: 'email', content: '{{ name }}，欢迎加入！', next: 'wait' },
    wait: { type: 'wait', duration_seconds: 86400, next: 'opened' },
    opened: { type: 'branch', rule: { engagement: 'opened', step: 'welcome' }, then: 'done', else: 'remind' },
    remind: { type: 'send', channel: 'sms', content: '{{ name }}，新人礼包还没领，别错过' },
    done: { type: 'exit' },
  },
  re_entry: 'never',
  goal: null,
};

/** What a save refused: JSON syntax (with its line), the API's error, or a stale version. */
type Problem =
  | { kind: 'syntax'; fault: SyntaxFault }
  | { kind: 'api'; field: string | null; message: string }
  | { kind: 'conflict' };

function problemOf(err: unknown): Problem {
  if (err instanceof ApiFailure && err.status === 412) return { kind: 'conflict' };
  if (err instanceof ApiFailure) return { kind: 'api', field: err.error.field ?? null, message: err.error.message };
  return { kind: 'api', field: null, message: (err as Error).message };
}

export default function JourneyPage({ id }: { id?: string }) {
  const { t, lang } = useI18n();
  const [journey, setJourney] = useState<Journey | null>(null);
  const [etag, setEtag] = useState<string | null>(null);
  const [stats, setStats] = useState<JourneyStats | null>(null);
  const [statsVersion, setStatsVersion] = useState<number | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [editing, setEditing] = useState(!id);
  const [text, setText] = useState(() => (id ? '' : JSON.stringify(EXAMPLE, null, 2)));
  const [problem, setProblem] = useState<Problem | null>(null);
  const [busy, setBusy] = useState(false);
  const [savedVersion, setSavedVersion] = useState<number | null>(null);
  const editor = useRef<HTMLTextAreaElement>(null);

  const load = useCallback(async () => {
    if (!id) return;
    try {
      const r = await api.getJourney(id);
      setJourney(r.journey);
      setEtag(r.etag);
      setLoadError(null);
      return r.journey;
    } catch (e) {
      setLoadError((e as Error).message);
    }
  }, [id]);

  useEffect(() => {
    void load().then((j) => j && setText(definitionText(j)));
  }, [load]);

  useEffect(() => {
    if (!id) return;
    let live = true;
    const read = () =>
      api
        .journeyStats(id)
        .then((s) => live && setStats(s))
        .catch(() => {});
    void read();
    const timer = window.setInterval(read, REFRESH_SECONDS * 1000);
    return () => {
      live = false;
      window.clearInterval(timer);
    };
  }, [id]);

  // The graph: the text being edited when it parses, else the saved journey.
  const parsed = useMemo(() => (editing ? parseDefinition(text) : null), [editing, text]);
  const graph = useMemo(
    () => definitionGraph(parsed?.ok ? parsed.body : journey ?? {}),
    [parsed, journey],
  );
  const version = statsVersion ?? journey?.version ?? 1;
  const counts = useMemo(() => countsByStep(stats, version), [stats, version]);
  const faultNode = problem?.kind === 'api' ? stepOfField(problem.field) : null;
  const fault =
    problem?.kind === 'api' && faultNode && graph.nodes.some((n) => n.id === faultNode)
      ? { node: faultNode, message: problem.message }
      : null;

  /** Puts the editor's caret on the line of a syntax error. */
  const showLine = (line: number) => {
    const el = editor.current;
    if (!el) return;
    const lines = text.split('\n');
    const start = lines.slice(0, line - 1).reduce((s, l) => s + l.length + 1, 0);
    el.focus();
    el.setSelectionRange(start, start + (lines[line - 1]?.length ?? 0));
  };

  async function save() {
    setSavedVersion(null);
    const p = parseDefinition(text);
    if (!p.ok) {
      setProblem({ kind: 'syntax', fault: p.fault });
      showLine(p.fault.line);
      return;
    }
    setBusy(true);
    setProblem(null);
    try {
      if (!id) {
        const created = await api.createJourney(p.body);
        navigate(`/journeys/${created.id}`);
        return;
      }
      const r = await api.updateJourney(id, p.body, etag);
      setJourney(r.journey);
      setEtag(r.etag);
      setText(definitionText(r.journey));
      setStatsVersion(null);
      setEditing(false);
      setSavedVersion(r.journey.version);
    } catch (e) {
      setProblem(problemOf(e));
    } finally {
      setBusy(false);
    }
  }

  async function act(action: 'activate' | 'pause' | 'archive') {
    if (!id) return;
    if (action === 'archive' && !window.confirm(t('journeys.archiveConfirm'))) return;
    setBusy(true);
    setSavedVersion(null);
    setProblem(null);
    try {
      if (action === 'activate') await api.activateJourney(id);
      else if (action === 'pause') await api.pauseJourney(id);
      else await api.archiveJourney(id);
      await load(); // a fresh ETag for the next save
    } catch (e) {
      setProblem(problemOf(e));
    } finally {
      setBusy(false);
    }
  }

  async function reload() {
    const j = await load();
    if (j) setText(definitionText(j));
    setProblem(null);
  }

  if (id && loadError && !journey) return <p className="error">{t('common.error', { message: loadError })}</p>;
  if (id && !journey) return <p>{t('common.loading')}</p>;

  const status = journey?.status;
  const versions = journey ? statsVersions(stats, journey.version) : [];
  const n = (v: number) => formatCount(v, lang);
  const reEntry = journey?.re_entry as { cooldown_hours?: number } | string | null | undefined;
  const goal = journey?.goal as { event?: string } | null | undefined;

  return (
    <section>
      <p>
        <a
          href="/console/journeys"
          onClick={(e) => {
            e.preventDefault();
            navigate('/journeys');
          }}
        >
          ← {t('journeys.title')}
        </a>
      </p>
      {journey ? (
        <div className="row between">
          <div className="row">
            <h1 data-testid="journey-name">{journey.name}</h1>
            <span className={`badge ${journey.status}`} data-testid="journey-status">
              {t(`status.${journey.status}` as Key)}
            </span>
            <span className="muted">{t('journeys.version', { version: journey.version })}</span>
          </div>
          <div className="row">
            {(status === 'draft' || status === 'paused') && (
              <button type="button" disabled={busy} onClick={() => act('activate')}>
                {t('journeys.activate')}
              </button>
            )}
            {status === 'active' && (
              <button type="button" className="secondary" disabled={busy} onClick={() => act('pause')}>
                {t('journeys.pause')}
              </button>
            )}
            {status !== 'archived' && (
              <button type="button" className="secondary" disabled={busy} onClick={() => act('archive')}>
                {t('journeys.archive')}
              </button>
            )}
          </div>
        </div>
      ) : (
        <h1 className="journey-new-title">{t('journeys.newTitle')}</h1>
      )}

      {journey && (
        <dl className="facts journey-facts">
          <dt>{t('journeys.entryLabel')}</dt>
          <dd>{entryText(journey.entry, t)}</dd>
          <dt>{t('journeys.reEntry')}</dt>
          <dd>
            {typeof reEntry === 'object' && reEntry?.cooldown_hours !== undefined
              ? t('journeys.reEntry.cooldown', { hours: reEntry.cooldown_hours })
              : t('journeys.reEntry.never')}
          </dd>
          <dt>{t('journeys.goal')}</dt>
          <dd>{goal?.event ?? t('common.none')}</dd>
        </dl>
      )}
      {savedVersion !== null && <p className="ok-note">{t('journeys.saved', { version: savedVersion })}</p>}
      {problem && !editing && <ProblemText problem={problem} onReload={reload} />}

      <div className="card">
        <div className="row between">
          <h2>{editing && !id ? t('journeys.preview') : t('journeys.graph')}</h2>
          {journey && (
            <div className="row journey-stats-bar">
              <span data-testid="journey-totals">
                {stats
                  ? t('journeys.totals', { entered: n(stats.entered), converted: n(stats.converted), exited: n(stats.exited) })
                  : t('common.loading')}
              </span>
              <label className="inline">
                {t('journeys.statsVersion')}
                <select
                  name="stats_version"
                  value={version}
                  onChange={(e) => setStatsVersion(Number(e.target.value))}
                >
                  {versions.map((v) => (
                    <option key={v} value={v}>
                      {t('journeys.version', { version: v })}
                    </option>
                  ))}
                </select>
              </label>
              <span className="muted">{t('journeys.refresh', { s: REFRESH_SECONDS })}</span>
            </div>
          )}
        </div>
        <JourneyGraph graph={graph} counts={journey ? counts : null} fault={fault} />
      </div>

      {status !== 'archived' && (
        <div className="card">
          {!editing ? (
            <button type="button" className="secondary" onClick={() => setEditing(true)}>
              {t('journeys.edit')}
            </button>
          ) : (
            <div className="journey-editor">
              <p className="hint">{t('journeys.editorHint')}</p>
              {(status === 'active' || status === 'paused') && <p className="hint">{t('journeys.versionHint')}</p>}
              <textarea
                ref={editor}
                name="definition"
                spellCheck={false}
                rows={Math.min(40, Math.max(16, text.split('\n').length + 1))}
                value={text}
                onChange={(e) => setText(e.target.value)}
                aria-invalid={problem?.kind === 'syntax' || undefined}
              />
              {problem && <ProblemText problem={problem} onReload={reload} />}
              <div className="row">
                <button type="button" disabled={busy} onClick={save}>
                  {id ? (busy ? t('journeys.saving') : t('journeys.save')) : busy ? t('journeys.creating') : t('journeys.create')}
                </button>
                <button
                  type="button"
                  className="secondary"
                  onClick={() => {
                    if (!id) return navigate('/journeys');
                    setEditing(false);
                    setProblem(null);
                    if (journey) setText(definitionText(journey));
                  }}
                >
                  {t('common.cancel')}
                </button>
              </div>
            </div>
          )}
        </div>
      )}

      {journey && status === 'active' && <JourneyEnroll id={journey.id} />}
    </section>
  );
}

function ProblemText({ problem, onReload }: { problem: Problem; onReload: () => void }) {
  const { t } = useI18n();
  if (problem.kind === 'conflict') {
    return (
      <p className="error" role="alert" data-testid="journey-conflict">
        {t('journeys.conflict')}{' '}
        <button type="button" className="secondary" onClick={onReload}>
          {t('journeys.reload')}
        </button>
      </p>
    );
  }
  if (problem.kind === 'syntax') {
    const { line, column, message } = problem.fault;
    return (
      <p className="error" role="alert" data-testid="journey-error">
        {t('journeys.syntax', { line, column, message })}
      </p>
    );
  }
  const step = stepOfField(problem.field);
  const rest = step && problem.field?.startsWith(`steps.${step}`) ? problem.field.slice(`steps.${step}`.length + 1) : null;
  const text =
    rest !== null && step
      ? rest
        ? t('journeys.stepFieldError', { step, field: rest, message: problem.message })
        : t('journeys.stepError', { step, message: problem.message })
      : problem.field
        ? t('journeys.fieldError', { field: problem.field, message: problem.message })
        : problem.message;
  return (
    <p className="error" role="alert" data-testid="journey-error" data-field={problem.field ?? undefined}>
      {text}
    </p>
  );
}
