import { useEffect, useState, type ReactNode } from 'react';
import { useI18n } from './i18n';
import { clearToken, getToken } from './auth';
import { setUnauthenticatedHandler } from './api/client';
import { matchRoute, navigate, usePath } from './router';
import { SignIn } from './pages/SignIn';
import { CampaignList } from './pages/CampaignList';
import { CampaignForm } from './pages/CampaignForm';
import { CampaignDetail } from './pages/CampaignDetail';

export function App() {
  const [token, setTokenState] = useState<string | null>(getToken);
  const path = usePath();
  useEffect(() => setUnauthenticatedHandler(() => setTokenState(null)), []);

  if (!token) return <SignIn onSignedIn={(t) => setTokenState(t)} />;

  let page: ReactNode;
  let params: Record<string, string> | null;
  if (matchRoute('/campaigns/new', path)) page = <CampaignForm />;
  else if ((params = matchRoute('/campaigns/:id', path))) page = <CampaignDetail id={params.id} />;
  else page = <CampaignList />;

  return (
    <Layout
      onSignOut={() => {
        clearToken();
        setTokenState(null);
      }}
    >
      {page}
    </Layout>
  );
}

function Layout({ children, onSignOut }: { children: ReactNode; onSignOut: () => void }) {
  const { t, lang, setLang } = useI18n();
  return (
    <div className="layout">
      <header className="topbar">
        <span className="brand">{t('app.title')}</span>
        <nav>
          <a
            href="/console/"
            className="active"
            onClick={(e) => {
              e.preventDefault();
              navigate('/');
            }}
          >
            {t('nav.campaigns')}
          </a>
        </nav>
        <span className="spacer" />
        <button type="button" className="link" onClick={() => setLang(lang === 'zh' ? 'en' : 'zh')}>
          {t('nav.language')}
        </button>
        <button type="button" className="link" onClick={onSignOut}>
          {t('nav.signOut')}
        </button>
      </header>
      <main>{children}</main>
    </div>
  );
}
