// The templates section: every path under /templates (see SECTIONS in src/App.tsx).
import { useI18n } from '../i18n';

export function TemplatesSection({ path }: { path: string }) {
  const { t } = useI18n();
  return (
    <section data-path={path}>
      <h1>{t('nav.templates')}</h1>
    </section>
  );
}
