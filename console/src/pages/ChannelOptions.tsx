// The channels as a select's options, named in the page's language; with `all`, an "all" option
// (value '') first, for filters.
import { useI18n, type Key } from '../i18n';
import { CHANNELS } from '../channels';

export function ChannelOptions({ all = false }: { all?: boolean }) {
  const { t } = useI18n();
  return (
    <>
      {all && <option value="">{t('common.all')}</option>}
      {CHANNELS.map((c) => (
        <option key={c} value={c}>
          {t(`channel.${c}` as Key)}
        </option>
      ))}
    </>
  );
}
