import { useState, type FormEvent } from 'react';
import { useI18n } from '../i18n';
import { api, ApiFailure } from '../api/client';
import { setToken } from '../auth';

export function SignIn({ onSignedIn }: { onSignedIn: (token: string) => void }) {
  const { t, lang, setLang } = useI18n();
  const [value, setValue] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [checking, setChecking] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    const token = value.trim();
    if (!token) return setError(t('signIn.empty'));
    setChecking(true);
    setError(null);
    try {
      await api.checkToken(token);
      setToken(token);
      onSignedIn(token);
    } catch (err) {
      setError(
        err instanceof ApiFailure && err.status === 401
          ? t('signIn.invalid')
          : t('common.error', { message: String((err as Error).message) }),
      );
    } finally {
      setChecking(false);
    }
  }

  return (
    <div className="signin">
      <form onSubmit={submit} className="card">
        <div className="row between">
          <h1>{t('signIn.title')}</h1>
          <button type="button" className="link" onClick={() => setLang(lang === 'zh' ? 'en' : 'zh')}>
            {t('nav.language')}
          </button>
        </div>
        <label>
          {t('signIn.token')}
          <input
            name="token"
            type="password"
            autoComplete="off"
            value={value}
            onChange={(e) => setValue(e.target.value)}
            aria-invalid={error !== null}
          />
        </label>
        <p className="hint">{t('signIn.hint')}</p>
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" disabled={checking}>
          {checking ? t('signIn.checking') : t('signIn.submit')}
        </button>
      </form>
    </div>
  );
}
