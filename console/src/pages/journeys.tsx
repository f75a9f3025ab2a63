// The journeys section: every path under /journeys (see SECTIONS in src/App.tsx).
import { useI18n } from '../i18n';

export function JourneysSection({ path }: { path: string }) {
  const { t } = useI18n();
  return (
    <section data-path={path}>
      <h1>{t('nav.journeys')}</h1>
    </section>
  );
}
