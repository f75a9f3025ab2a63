// What the customer page shows, worked out from the API's Customer: each channel's address and
// whether the customer opted out of it (per channel, or `all`).
import type { Channel, Customer } from './api/types';
import { CHANNELS } from './channels';

export interface ChannelLine {
  channel: Channel;
  address: string | null;
  optedOut: boolean;
}

/** Each channel with its address on the customer and its opt-out state. */
export function channelLines(c: Pick<Customer, 'phone' | 'email' | 'push_token' | 'wechat_openid' | 'opt_outs'>): ChannelLine[] {
  const address: Record<Channel, string | null | undefined> = {
    sms: c.phone,
    email: c.email,
    push_notification: c.push_token,
    wechat: c.wechat_openid,
  };
  const all = c.opt_outs.includes('all');
  return CHANNELS.map((channel) => ({
    channel,
    address: address[channel] ?? null,
    optedOut: all || c.opt_outs.includes(channel),
  }));
}

/** How the page names a customer (name, else external id, else id). */
export function customerLabel(c: Pick<Customer, 'id' | 'name' | 'external_id'>): string {
  if (c.name && c.external_id) return `${c.name}（${c.external_id}）`;
  return c.name || c.external_id || c.id;
}

/** Records (or anything holding one) newest first: ids are UUIDv7, ordered by creation time. */
export function newestFirst<T>(items: T[], id: (item: T) => string): T[] {
  return [...items].sort((a, b) => (id(a) < id(b) ? 1 : id(a) > id(b) ? -1 : 0));
}
