// A template's parts per channel and the API's errors on them: a syntax error is 400 with
// `field` the part (`html_body`) and the message ending in `(line N)`, the line within that part.
// Pure, so it is unit-tested (templateErrors.test.ts).
import type { ApiError, Channel } from './api/types';

export type TemplatePart = 'subject' | 'body' | 'html_body';

/** The parts a channel's template has (SMS and WeChat: the text only; push: a title too). */
export function partsOf(channel: Channel): TemplatePart[] {
  switch (channel) {
    case 'email':
      return ['subject', 'body', 'html_body'];
    case 'push_notification':
      return ['subject', 'body'];
    default:
      return ['body'];
  }
}

const PARTS: readonly string[] = ['subject', 'body', 'html_body'];

export interface FieldError {
  /** The field the API named (`name`, `body`, …), null when none. */
  field: string | null;
  /** The template part it is, when it is one. */
  part: TemplatePart | null;
  /** The line (1-based, within the part) the message names, when it names one. */
  line: number | null;
  message: string;
}

/** The line a message names (`… (line 3)`): the last such mention; null when none. */
export function lineOf(message: string): number | null {
  const all = [...message.matchAll(/\(line (\d+)\)/g)];
  if (all.length === 0) return null;
  const n = Number(all[all.length - 1][1]);
  return Number.isSafeInteger(n) && n >= 1 ? n : null;
}

export function fieldError(error: ApiError): FieldError {
  const field = error.field ?? null;
  const part = field !== null && PARTS.includes(field) ? (field as TemplatePart) : null;
  return { field, part, line: part ? lineOf(error.message) : null, message: error.message };
}

/** How many lines `text` shows (an empty text is one line). */
export function lineCount(text: string): number {
  let n = 1;
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) n++;
  return n;
}

/** The character range [start, end) of line `n` (1-based) in `text`; null past the end. */
export function lineRange(text: string, n: number): [number, number] | null {
  if (n < 1) return null;
  let start = 0;
  for (let line = 1; line < n; line++) {
    const nl = text.indexOf('\n', start);
    if (nl < 0) return null;
    start = nl + 1;
  }
  const end = text.indexOf('\n', start);
  return [start, end < 0 ? text.length : end];
}
