import { describe, expect, it } from 'vitest';
import { fieldError, lineCount, lineOf, lineRange, partsOf } from './templateErrors';

describe('fieldError', () => {
  it('reads the part and line of a syntax error', () => {
    expect(
      fieldError({
        code: 'invalid_argument',
        message: 'syntax error: unexpected end of block (line 3)',
        field: 'html_body',
      }),
    ).toEqual({
      field: 'html_body',
      part: 'html_body',
      line: 3,
      message: 'syntax error: unexpected end of block (line 3)',
    });
  });
  it('keeps a part error without a line', () => {
    const e = fieldError({ code: 'invalid_argument', message: 'unknown variable(s): nme', field: 'body' });
    expect(e.part).toBe('body');
    expect(e.line).toBeNull();
  });
  it('is no part for other fields, and reads no line there', () => {
    const e = fieldError({ code: 'invalid_argument', message: 'must not be empty (line 2)', field: 'name' });
    expect(e.part).toBeNull();
    expect(e.line).toBeNull();
    expect(fieldError({ code: 'internal', message: 'x', field: null }).field).toBeNull();
  });
});

describe('lineOf', () => {
  it('takes the last mention', () => {
    expect(lineOf('unknown filter: filter nosuch is unknown (line 12)')).toBe(12);
    expect(lineOf('a (line 1) then b (line 4)')).toBe(4);
    expect(lineOf('no line here')).toBeNull();
    expect(lineOf('(line 0)')).toBeNull();
  });
});

describe('lines', () => {
  it('counts lines', () => {
    expect(lineCount('')).toBe(1);
    expect(lineCount('a\nb\n')).toBe(3);
  });
  it('finds the range of a line', () => {
    const text = '<p>\n{{ name }}\n{% if %}\n</p>';
    expect(lineRange(text, 1)).toEqual([0, 3]);
    expect(text.slice(...lineRange(text, 3)!)).toBe('{% if %}');
    expect(text.slice(...lineRange(text, 4)!)).toBe('</p>');
    expect(lineRange(text, 5)).toBeNull();
    expect(lineRange(text, 0)).toBeNull();
  });
});

describe('partsOf', () => {
  it('gives each channel its parts', () => {
    expect(partsOf('email')).toEqual(['subject', 'body', 'html_body']);
    expect(partsOf('push_notification')).toEqual(['subject', 'body']);
    expect(partsOf('sms')).toEqual(['body']);
    expect(partsOf('wechat')).toEqual(['body']);
  });
});
