// Prints the gzipped size of the initial JavaScript (the scripts index.html loads and preloads;
// lazy chunks such as the chart are not counted) and fails the build over the budget.
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';

const BUDGET = 500 * 1024;
const dist = new URL('../dist/', import.meta.url).pathname;
const html = readFileSync(join(dist, 'index.html'), 'utf8');
const files = [...html.matchAll(/(?:src|href)="\/console\/(assets\/[^"]+\.js)"/g)].map((m) => m[1]);
let total = 0;
for (const file of new Set(files)) {
  const size = gzipSync(readFileSync(join(dist, file)), { level: 9 }).length;
  total += size;
  console.log(`  ${file}: ${(size / 1024).toFixed(1)} KiB gzipped`);
}
console.log(`initial JavaScript: ${(total / 1024).toFixed(1)} KiB gzipped (budget ${BUDGET / 1024} KiB)`);
if (files.length === 0) {
  console.error('no script found in dist/index.html');
  process.exit(1);
}
if (total > BUDGET) {
  console.error('over the budget');
  process.exit(1);
}
