// The records browser's paging by cursor: the API counts nothing and answers `next`, so going
// back means remembering the cursors that led here (a 1,000,000-record campaign pages as fast as
// a small one). Pure, so it is unit-tested (records.test.ts).

/** The cursors of the pages seen, the current page's last; `''` is the first page. */
export type CursorTrail = readonly string[];

export const FIRST_PAGE: CursorTrail = [''];

export const current = (trail: CursorTrail): string => trail[trail.length - 1] ?? '';
export const pageNumber = (trail: CursorTrail): number => trail.length;
export const forward = (trail: CursorTrail, next: string): CursorTrail => [...trail, next];
export const back = (trail: CursorTrail): CursorTrail =>
  trail.length > 1 ? trail.slice(0, -1) : FIRST_PAGE;
