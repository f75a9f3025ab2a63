// A template part's editor: a plain textarea (no editor library) with a line-number gutter, so
// the API's `(line N)` can be pointed at: line N is marked in the gutter and behind the text.
// Lines do not wrap, so each gutter number stays beside its line.
import { forwardRef, useImperativeHandle, useRef, useState } from 'react';
import { lineCount, lineRange } from '../templateErrors';

const LINE_HEIGHT = 20; // px: styles.css `.code-editor` uses the same

export interface CodeEditorHandle {
  /** Focuses the editor with line `n` selected and scrolled into view. */
  showLine: (n: number) => void;
}

export const CodeEditor = forwardRef<
  CodeEditorHandle,
  {
    name: string;
    value: string;
    onChange: (value: string) => void;
    /** The line to mark (1-based), when the API named one. */
    markedLine: number | null;
    rows?: number;
    invalid?: boolean;
    describedBy?: string;
  }
>(function CodeEditor({ name, value, onChange, markedLine, rows = 6, invalid, describedBy }, ref) {
  const area = useRef<HTMLTextAreaElement>(null);
  const [scroll, setScroll] = useState({ top: 0, left: 0 });
  useImperativeHandle(ref, () => ({
    showLine(n: number) {
      const el = area.current;
      if (!el) return;
      const range = lineRange(value, n);
      el.focus();
      if (range) el.setSelectionRange(range[0], range[1]);
      el.scrollTop = Math.max(0, (n - 2) * LINE_HEIGHT);
    },
  }));
  const lines = Math.max(lineCount(value), rows);
  return (
    <div className={`code-editor${invalid ? ' invalid' : ''}`} data-marked-line={markedLine ?? undefined}>
      <div className="gutter" aria-hidden="true" style={{ width: `calc(${String(lines).length}ch + 20px)` }}>
        <div style={{ transform: `translateY(${-scroll.top}px)` }}>
          {Array.from({ length: lines }, (_, i) => (
            <div key={i} data-line={i + 1} className={markedLine === i + 1 ? 'marked' : undefined}>
              {i + 1}
            </div>
          ))}
        </div>
      </div>
      <div className="text">
        {markedLine !== null && (
          <div
            className="line-mark"
            aria-hidden="true"
            style={{ top: 6 + (markedLine - 1) * LINE_HEIGHT - scroll.top }}
          />
        )}
        <textarea
          ref={area}
          name={name}
          value={value}
          rows={rows}
          wrap="off"
          spellCheck={false}
          aria-invalid={invalid || undefined}
          aria-describedby={describedBy}
          style={{ height: rows * LINE_HEIGHT + 12 }}
          onChange={(e) => onChange(e.target.value)}
          onScroll={(e) => setScroll({ top: e.currentTarget.scrollTop, left: e.currentTarget.scrollLeft })}
        />
      </div>
    </div>
  );
});
