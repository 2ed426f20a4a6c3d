// make format-check: the layout rules of .editorconfig and .clang-format,
// checked (never applied) on every C, header, shell and JS file git tracks or
// would track (untracked files not ignored count, so a new file is checked
// before its first commit).
//
// Why it is built this way: the tree was written by hand to the style of
// .clang-format but not by clang-format, and several people edit it at once,
// so a reformat of the whole tree is not on offer. What is enforced is what
// the tree already keeps, and it only gets stricter:
//   every file     no CR, no trailing white space, ends in a newline
//   C and headers  indentation is tabs (then at most 7 spaces of alignment,
//                  never a space before a tab); at most 100 columns with tabs
//                  8 wide (the longer lines the tree once had were wrapped with
//                  `clang-format --lines`, which formats only the lines named)
//   listed files   scripts/clang-format.list names the C files that
//                  clang-format already leaves unchanged; each must stay so
//                  (clang-format --dry-run -Werror). Format a file with
//                  `clang-format -i` when nobody else is editing it, then
//                  list it. A listed file that no longer exists is reported,
//                  not an error (files move).
// Shell and JS files are indented with two spaces (.editorconfig) but some
// scripts need tabs for <<- here-documents, so their indentation and width
// are not checked.
//
// node scripts/format-check.mjs
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const listFile = join(root, 'scripts/clang-format.list');
const maxCols = 100;

const gitFiles = (...args) =>
  execFileSync('git', ['-C', root, 'ls-files', '-z', ...args], { encoding: 'utf8', maxBuffer: 1 << 26 })
    .split('\0').filter(Boolean);
const patterns = ['*.c', '*.h', '*.sh', '*.mjs', '*.js', '.ci/run'];
const files = [...new Set([...gitFiles('--', ...patterns),
  ...gitFiles('--others', '--exclude-standard', '--', ...patterns)])]
  .filter((f) => !f.split('/').includes('node_modules') && existsSync(join(root, f)))
  .sort();

const columns = (line) => {
  let col = 0;
  for (const ch of line) col = ch === '\t' ? (Math.floor(col / 8) + 1) * 8 : col + 1;
  return col;
};

const problems = [];
for (const f of files) {
  const text = readFileSync(join(root, f), 'utf8');
  const isC = /\.[ch]$/.test(f);
  if (text.length === 0) continue;
  if (text.includes('\r')) problems.push(`${f}: has CR characters (CRLF line ends?)`);
  if (!text.endsWith('\n')) problems.push(`${f}: does not end in a newline`);
  const lines = text.split('\n');
  lines.pop();
  lines.forEach((line, i) => {
    const at = `${f}:${i + 1}`;
    if (/[ \t]$/.test(line)) problems.push(`${at}: trailing white space`);
    if (!isC) return;
    const indent = line.match(/^[ \t]*/)[0];
    if (/ \t/.test(indent)) problems.push(`${at}: a space before a tab in the indentation`);
    else if (/^\t* {8,}/.test(indent)) problems.push(`${at}: indented with spaces (use tabs)`);
    if (columns(line) > maxCols)
      problems.push(`${at}: ${columns(line)} columns (at most ${maxCols}, tabs 8 wide)`);
  });
}

const listed = readFileSync(listFile, 'utf8').split('\n').map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));
const present = listed.filter((f) => existsSync(join(root, f)));
for (const f of listed) if (!present.includes(f)) console.log(`format-check: note: ${f} (clang-format.list) no longer exists`);
if (present.length) {
  const cf = spawnSync('clang-format', ['--dry-run', '-Werror', ...present], { cwd: root, encoding: 'utf8' });
  if (cf.error) {
    problems.push(`clang-format: cannot run it (${cf.error.code}): run 'make deps' (Debian package clang-format)`);
  } else if (cf.status !== 0) {
    const bad = new Set([...cf.stderr.matchAll(/^([^:\n]+):\d+:\d+: error/gm)].map((m) => m[1]));
    for (const f of bad) problems.push(`${f}: not as clang-format leaves it (listed in scripts/clang-format.list): clang-format --dry-run ${f}`);
    if (!bad.size) problems.push(`clang-format failed: ${cf.stderr.trim()}`);
  }
}

for (const p of problems) console.log(p);
console.log(`format-check: ${files.length} files, ${present.length} under clang-format, ${problems.length} problems`);
process.exit(problems.length ? 1 : 0);
