import { describe, expect, it } from 'vitest';
import { zh } from './zh';
import { en } from './en';
import { interpolate, translate } from './index';

describe('dictionaries', () => {
  it('have the same keys', () => {
    expect(Object.keys(en).sort()).toEqual(Object.keys(zh).sort());
  });
  it('have no empty string', () => {
    for (const [key, text] of [...Object.entries(zh), ...Object.entries(en)]) {
      expect(text.trim(), key).not.toBe('');
    }
  });
  it('use the same placeholders in both languages', () => {
    const names = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
    for (const key of Object.keys(zh) as (keyof typeof zh)[]) {
      expect(names(en[key]), key).toEqual(names(zh[key]));
    }
  });
});

describe('interpolate', () => {
  it('fills placeholders and leaves unknown ones', () => {
    expect(interpolate('{a} and {b}', { a: 1 })).toBe('1 and {b}');
  });
  it('translates with zh as written', () => {
    expect(translate('zh', 'send.confirm', { count: 3 })).toBe('确认发送给 3 人');
    expect(translate('en', 'send.confirm', { count: 3 })).toBe('Send to 3 customers');
  });
});
