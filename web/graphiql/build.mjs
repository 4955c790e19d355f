// Bundles GraphiQL into dist/app.js and dist/app.css (minified, no source maps, nothing loaded
// from elsewhere at run time), which the Rust build embeds (src/http/graphiql.rs), and writes the
// bundled packages' licences to dist/THIRD-PARTY-LICENSES.txt. Run `npm ci && npm run build`
// here and commit dist/. `npm run check` builds in memory and fails if dist/ differs.
import { build } from 'esbuild';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const check = process.argv.includes('--check');

const result = await build({
  entryPoints: { app: 'src/main.jsx' },
  outdir: 'dist',
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
  platform: 'browser',
  define: { 'process.env.NODE_ENV': '"production"' },
  // GraphiQL's CSS inlines its fonts as data: URLs; inline anything else it references too.
  loader: { '.woff': 'dataurl', '.woff2': 'dataurl', '.svg': 'dataurl', '.png': 'dataurl' },
  legalComments: 'none',
  metafile: true,
  write: false,
  logLevel: 'warning',
});

// Every package with code in the bundle, with its version and licence text.
const packages = new Set();
for (const output of Object.values(result.metafile.outputs)) {
  for (const input of Object.keys(output.inputs)) {
    const match = input.match(/^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//);
    if (match) packages.add(match[1]);
  }
}
const notices = [...packages].sort().map((dir) => {
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const file = readdirSync(dir).find((name) => /^(licen[cs]e|copying)(\.|$)/i.test(name));
  const text = file ? readFileSync(join(dir, file), 'utf8').trim() : `License: ${pkg.license}`;
  return `${pkg.name}@${pkg.version} (${pkg.license})\n\n${text}\n`;
});
const files = new Map(
  result.outputFiles.map((file) => [relative('.', file.path), Buffer.from(file.contents)]),
);
files.set(
  'dist/THIRD-PARTY-LICENSES.txt',
  Buffer.from(
    'Packages bundled into app.js and app.css (built by web/graphiql/build.mjs)\n\n' +
      notices.join(`\n${'-'.repeat(72)}\n\n`),
  ),
);

mkdirSync('dist', { recursive: true });
let stale = 0;
for (const [path, contents] of files) {
  if (check) {
    let current = null;
    try {
      current = readFileSync(path);
    } catch {}
    if (!current || !current.equals(contents)) {
      console.error(`${path} is not what \`npm run build\` makes from the sources`);
      stale += 1;
    }
  } else {
    writeFileSync(path, contents);
    console.log(`${path}: ${contents.length} bytes`);
  }
}
process.exitCode = stale ? 1 : 0;
