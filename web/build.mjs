// Bundles web/src into web/dist (app.js, app.css, index.html), which CMake
// embeds in cairn server (docs/adr/0023-web-ui.md). Run by scripts/build-web.sh.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, 'dist');
rmSync(dist, { recursive: true, force: true });
mkdirSync(dist);
await build({
  entryPoints: [join(here, 'src/main.js')],
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['chrome110', 'firefox110'],
  outfile: join(dist, 'app.js'),
  legalComments: 'none',
});
copyFileSync(join(here, 'src/app.css'), join(dist, 'app.css'));
copyFileSync(join(here, 'index.html'), join(dist, 'index.html'));
