// The segments section: every path under /segments (see SECTIONS in src/App.tsx).
import { useI18n } from '../i18n';

export function SegmentsSection({ path }: { path: string }) {
  const { t } = useI18n();
  return (
    <section data-path={path}>
      <h1>{t('nav.segments')}</h1>
    </section>
  );
}
