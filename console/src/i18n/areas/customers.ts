// The customers pages' strings: zh (default) and en with the same keys (src/i18n/i18n.test.ts).
export const zh = {} as const;

export const en: Record<keyof typeof zh, string> = {};
