// The customers section: every path under /customers (see SECTIONS in src/App.tsx).
import { useI18n } from '../i18n';

export function CustomersSection({ path }: { path: string }) {
  const { t } = useI18n();
  return (
    <section data-path={path}>
      <h1>{t('nav.customers')}</h1>
    </section>
  );
}
