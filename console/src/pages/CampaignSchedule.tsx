// The campaign form's schedule (pages/CampaignForm.tsx): start and end, the once / recurring /
// event trigger with the API's fields, local-time delivery and quiet hours.
import { useI18n, type Key } from '../i18n';
import type { FormState } from '../campaignForm';
import { ErrorText, type FieldError } from './campaignFormParts';

/** Zones offered for the time-zone inputs (any IANA name may be typed). */
const ZONES = ['Asia/Shanghai', 'Asia/Hong_Kong', 'Asia/Tokyo', 'Asia/Singapore', 'Europe/London', 'Europe/Berlin', 'America/New_York', 'America/Los_Angeles', 'UTC'];

/** Start and end, the trigger, local-time delivery and quiet hours. */
export function ScheduleCard({
  form,
  update,
  errorOf,
}: {
  form: FormState;
  update: (patch: Partial<FormState>) => void;
  errorOf: (slot: string) => FieldError | null;
}) {
  const { t } = useI18n();
  const field = (slot: string, label: Key, value: string, key: keyof FormState, props: Record<string, unknown> = {}) => (
    <label>
      {t(label)}
      <input name={slot} value={value} onChange={(e) => update({ [key]: e.target.value })} {...props} />
      <ErrorText error={errorOf(slot)} slot={slot} />
    </label>
  );
  return (
    <div className="card">
      <h2>{t('cf.section.schedule')}</h2>
      <div className="row">
        {field('start_time', 'form.startTime', form.start, 'start', { type: 'datetime-local' })}
        {field('end_time', 'form.endTime', form.end, 'end', { type: 'datetime-local' })}
      </div>
      <div className="cf-label">{t('cf.trigger.kind')}</div>
      <div className="row cf-choice">
        {(['once', 'recurring', 'event'] as const).map((kind) => (
          <label className="cf-radio" key={kind}>
            <input type="radio" name="trigger.kind" value={kind} checked={form.trigger === kind} onChange={() => update({ trigger: kind })} />
            {t(`cf.trigger.${kind}` as Key)}
          </label>
        ))}
      </div>
      <ErrorText error={errorOf('trigger') ?? errorOf('trigger.kind')} slot="trigger.kind" />
      {form.trigger === 'recurring' && (
        <div className="row">
          <label>
            {t('cf.trigger.cron')}
            <input name="trigger.cron" value={form.cron} placeholder="0 9 * * *" onChange={(e) => update({ cron: e.target.value })} />
            <span className="hint">{t('cf.trigger.cronHint')}</span>
            <ErrorText error={errorOf('trigger.cron')} slot="trigger.cron" />
          </label>
          {field('trigger.time_zone', 'cf.trigger.cronZone', form.cronTimeZone, 'cronTimeZone', { list: 'cf-zones' })}
        </div>
      )}
      {form.trigger === 'event' && (
        <>
          {field('trigger.event', 'cf.trigger.event.name', form.event, 'event', { placeholder: 'order_paid' })}
          <label>
            {t('cf.trigger.where')}
            <textarea name="trigger.where" rows={2} value={form.eventWhere} onChange={(e) => update({ eventWhere: e.target.value })} />
            <span className="hint">{t('cf.trigger.whereHint')}</span>
            <ErrorText error={errorOf('trigger.where')} slot="trigger.where" />
          </label>
          <div className="row">
            {field('trigger.delay_seconds', 'cf.trigger.delay', form.delaySeconds, 'delaySeconds', { type: 'number', min: 0 })}
            {field('trigger.cooldown_hours', 'cf.trigger.cooldown', form.cooldownHours, 'cooldownHours', { type: 'number', min: 0 })}
          </div>
          <label className="cf-radio">
            <input
              type="checkbox"
              name="trigger.once_per_customer"
              checked={form.oncePerCustomer}
              onChange={(e) => update({ oncePerCustomer: e.target.checked })}
            />
            {t('cf.trigger.oncePerCustomer')}
          </label>
          <ErrorText error={errorOf('trigger.once_per_customer')} slot="trigger.once_per_customer" />
        </>
      )}
      <div className="row">
        <label>
          {t('cf.local.sendAt')}
          <input name="send_at_local" type="time" value={form.sendAtLocal} onChange={(e) => update({ sendAtLocal: e.target.value })} />
          <span className="hint">{t('cf.local.sendAtHint')}</span>
          <ErrorText error={errorOf('send_at_local')} slot="send_at_local" />
        </label>
        {field('time_zone', 'cf.local.timeZone', form.timeZone, 'timeZone', { list: 'cf-zones', placeholder: 'Asia/Shanghai' })}
      </div>
      <div className="cf-label">{t('cf.quiet.title')}</div>
      <div className="row">
        {field('quiet_hours.start', 'cf.quiet.start', form.quietStart, 'quietStart', { type: 'time' })}
        {field('quiet_hours.end', 'cf.quiet.end', form.quietEnd, 'quietEnd', { type: 'time' })}
      </div>
      <span className="hint">{t('cf.quiet.hint')}</span>
      <ErrorText error={errorOf('quiet_hours')} slot="quiet_hours" />
      <datalist id="cf-zones">
        {ZONES.map((z) => (
          <option key={z} value={z} />
        ))}
      </datalist>
    </div>
  );
}
