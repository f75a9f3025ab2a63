import { describe, expect, it } from 'vitest';
import { channelLines, customerLabel, newestFirst } from './customerView';

describe('channelLines', () => {
  const c = { phone: '+8613800138000', email: null, push_token: undefined, wechat_openid: 'wx-1', opt_outs: ['sms'] };
  it('pairs each channel with its address and opt-out', () => {
    expect(channelLines(c)).toEqual([
      { channel: 'sms', address: '+8613800138000', optedOut: true },
      { channel: 'email', address: null, optedOut: false },
      { channel: 'push_notification', address: null, optedOut: false },
      { channel: 'wechat', address: 'wx-1', optedOut: false },
    ]);
  });
  it('reads `all` as every channel', () => {
    expect(channelLines({ ...c, opt_outs: ['all'] }).every((l) => l.optedOut)).toBe(true);
  });
});

describe('customerLabel', () => {
  it('names a customer by name and external id, else what there is', () => {
    expect(customerLabel({ id: 'u', name: '张三', external_id: 'crm-1' })).toBe('张三（crm-1）');
    expect(customerLabel({ id: 'u', name: null, external_id: 'crm-1' })).toBe('crm-1');
    expect(customerLabel({ id: 'u', name: null, external_id: null })).toBe('u');
  });
});

describe('newestFirst', () => {
  it('orders by the time-ordered id, newest first', () => {
    const r = (id: string) => ({ record: { id } });
    expect(newestFirst([r('0190-a'), r('0190-c'), r('0190-b')], (x) => x.record.id).map((x) => x.record.id)).toEqual(['0190-c', '0190-b', '0190-a']);
  });
});
