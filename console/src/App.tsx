import { useEffect, useState, type ReactNode } from 'react';
import { useI18n } from './i18n';
import { clearToken, getToken } from './auth';
import { setUnauthenticatedHandler } from './api/client';
import { matchRoute, usePath } from './router';
import { Link } from './Link';
import { SignIn } from './pages/SignIn';
import { CampaignList } from './pages/CampaignList';
import { CampaignForm } from './pages/CampaignForm';
import { CampaignDetail } from './pages/CampaignDetail';
import { TemplatesSection } from './pages/templates';
import { SegmentsSection } from './pages/segments';
import { CustomersSection } from './pages/customers';
import { JourneysSection } from './pages/journeys';
import type { Key } from './i18n';

/** The top bar's sections: each owns the paths under its prefix and routes them itself. */
const SECTIONS: { prefix: string; label: Key }[] = [
  { prefix: '/campaigns', label: 'nav.campaigns' },
  { prefix: '/templates', label: 'nav.templates' },
  { prefix: '/segments', label: 'nav.segments' },
  { prefix: '/customers', label: 'nav.customers' },
  { prefix: '/journeys', label: 'nav.journeys' },
];

/** The section a path belongs to (`/` and unknown paths are the campaigns). */
export function sectionOf(path: string): string {
  return SECTIONS.find((s) => path === s.prefix || path.startsWith(`${s.prefix}/`))?.prefix ?? '/campaigns';
}

export function App() {
  const [token, setTokenState] = useState<string | null>(getToken);
  const path = usePath();
  useEffect(() => setUnauthenticatedHandler(() => setTokenState(null)), []);

  if (!token) return <SignIn onSignedIn={(t) => setTokenState(t)} />;

  let page: ReactNode;
  let params: Record<string, string> | null;
  const section = sectionOf(path);
  if (section === '/templates') page = <TemplatesSection path={path} />;
  else if (section === '/segments') page = <SegmentsSection path={path} />;
  else if (section === '/customers') page = <CustomersSection path={path} />;
  else if (section === '/journeys') page = <JourneysSection path={path} />;
  else if (matchRoute('/campaigns/new', path)) page = <CampaignForm />;
  else if ((params = matchRoute('/campaigns/:id/edit', path))) page = <CampaignForm id={params.id} />;
  else if ((params = matchRoute('/campaigns/:id', path))) page = <CampaignDetail id={params.id} />;
  else page = <CampaignList />;

  return (
    <Layout
      section={section}
      onSignOut={() => {
        clearToken();
        setTokenState(null);
      }}
    >
      {page}
    </Layout>
  );
}

function Layout({
  children,
  section,
  onSignOut,
}: {
  children: ReactNode;
  section: string;
  onSignOut: () => void;
}) {
  const { t, lang, setLang } = useI18n();
  return (
    <div className="layout">
      <header className="topbar">
        <span className="brand">{t('app.title')}</span>
        <nav>
          {SECTIONS.map((s) => (
            <Link key={s.prefix} className={s.prefix === section ? 'active' : undefined} to={s.prefix}>
              {t(s.label)}
            </Link>
          ))}
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
