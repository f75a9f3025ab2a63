import { describe, expect, it } from 'vitest';
import { SseParser } from './sse';

describe('SseParser', () => {
  it('parses the progress events the API sends', () => {
    const p = new SseParser();
    const events = p.push(
      'event: progress\ndata: {"percent":50}\n\nevent: progress\ndata: {"percent":100}\n\n',
    );
    expect(events).toEqual([
      { event: 'progress', data: '{"percent":50}' },
      { event: 'progress', data: '{"percent":100}' },
    ]);
  });

  it('keeps an event cut across chunks, anywhere, until its blank line', () => {
    const text = 'event: progress\r\ndata: {"a":1}\r\n\r\n';
    for (let cut = 1; cut < text.length; cut++) {
      const p = new SseParser();
      const events = [...p.push(text.slice(0, cut)), ...p.push(text.slice(cut))];
      expect(events, `cut at ${cut}`).toEqual([{ event: 'progress', data: '{"a":1}' }]);
    }
  });

  it('ignores comments (keep-alive) and joins data lines', () => {
    const p = new SseParser();
    expect(p.push(':\n\n: keep-alive\n\ndata: one\ndata: two\n\n')).toEqual([
      { event: 'message', data: 'one\ntwo' },
    ]);
  });

  it('does not emit an event before its blank line', () => {
    const p = new SseParser();
    expect(p.push('event: progress\ndata: {}\n')).toEqual([]);
    expect(p.push('\n')).toEqual([{ event: 'progress', data: '{}' }]);
  });

  it('resets the event name after each event', () => {
    const p = new SseParser();
    expect(p.push('event: error\ndata: x\n\ndata: y\n\n')).toEqual([
      { event: 'error', data: 'x' },
      { event: 'message', data: 'y' },
    ]);
  });
});
