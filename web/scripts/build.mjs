// npm run build: bundles src/main.js (with mqtt.js) into one minified app.js and copies the
// static files next to it. Output: dist/ here, or $JAMBOX_WEB_OUT (the CMake build tree).
// $JAMBOX_WEB_MODULES: a node_modules folder elsewhere (CMake installs the packages into the
// build tree, so that several build trees never share one source-tree node_modules).
import { copyFile, mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const out = path.resolve(process.env.JAMBOX_WEB_OUT || path.join(here, 'dist'));
const modules = process.env.JAMBOX_WEB_MODULES ? path.resolve(process.env.JAMBOX_WEB_MODULES) : null;
const require = createRequire(modules ? path.join(modules, 'resolve-from-here.js') : import.meta.url);
const { build } = require('esbuild');

await mkdir(out, { recursive: true });
await build({
  entryPoints: [path.join(here, 'src', 'main.js')],
  outfile: path.join(out, 'app.js'),
  bundle: true,
  minify: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2020', 'chrome90', 'firefox90', 'safari15'],
  legalComments: 'eof',
  nodePaths: modules ? [modules] : [],
  logLevel: 'warning',
});
for (const f of ['index.html', 'app.css']) {
  await copyFile(path.join(here, 'static', f), path.join(out, f));
}
console.log(`web app built in ${out}`);
