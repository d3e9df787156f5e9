// npm run check: the whole app, gzipped file by file as a web server would send it, must stay
// within the size budget (phones on mobile data load it before every jam).
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const LIMIT = 250 * 1000; // bytes, gzipped

const here = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const out = path.resolve(process.env.JAMBOX_WEB_OUT || path.join(here, 'dist'));

let names;
try {
  names = (await readdir(out, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name);
} catch (e) {
  console.error(`check: cannot read ${out} (${e.code}): run npm run build first`);
  process.exit(1);
}
if (!names.includes('app.js') || !names.includes('index.html')) {
  console.error(`check: ${out} has no app.js or index.html: run npm run build first`);
  process.exit(1);
}
let total = 0;
for (const name of names.sort()) {
  const raw = await readFile(path.join(out, name));
  const gz = gzipSync(raw, { level: 9 }).length;
  total += gz;
  console.log(`${name.padEnd(12)} ${String(raw.length).padStart(8)} B, gzip ${String(gz).padStart(7)} B`);
}
const kb = (total / 1000).toFixed(1);
if (total > LIMIT) {
  console.error(`gzip total ${total} B (${kb} KB) exceeds the budget of ${LIMIT / 1000} KB`);
  process.exit(1);
}
console.log(`gzip total ${total} B (${kb} KB), budget ${LIMIT / 1000} KB: ok`);
