// Customers entered into an active journey by hand (`POST /journeys/:id/enroll`): how many
// entered and how many could not.
import { useState } from 'react';
import { useI18n } from '../i18n';
import { api, ApiFailure } from '../api/client';

export function JourneyEnroll({ id }: { id: string }) {
  const { t } = useI18n();
  const [ids, setIds] = useState('');
  const [result, setResult] = useState<{ entered: number; not: number } | null>(null);
  const [error, setError] = useState<{ field: string | null; message: string } | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit() {
    const list = ids.split(/[\s,，]+/).filter(Boolean);
    setResult(null);
    if (list.length === 0) return setError({ field: null, message: t('journeys.enroll.empty') });
    setBusy(true);
    setError(null);
    try {
      const r = await api.enrollInJourney(id, list);
      setResult({ entered: r.entered, not: r.not_entered.length });
    } catch (e) {
      setError(
        e instanceof ApiFailure
          ? { field: e.error.field ?? null, message: e.error.message }
          : { field: null, message: (e as Error).message },
      );
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="card">
      <h2>{t('journeys.enroll.title')}</h2>
      <label>
        {t('journeys.enroll.ids')}
        <textarea name="customer_ids" rows={3} value={ids} onChange={(e) => setIds(e.target.value)} />
      </label>
      {error && (
        <p className="error" role="alert">
          {error.field ? t('journeys.fieldError', { field: error.field, message: error.message }) : error.message}
        </p>
      )}
      {result && <p data-testid="enroll-result">{t('journeys.enroll.result', result)}</p>}
      <button type="button" disabled={busy} onClick={submit}>
        {t('journeys.enroll.submit')}
      </button>
    </div>
  );
}
