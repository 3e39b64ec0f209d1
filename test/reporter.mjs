// A concise reporter for node's test runner (`npm test`): one character per test (. passed,
// s skipped, F failed), then every failure in full (file, test, error), then the totals, with the
// plain "N passed, N failed, N skipped" line last so it is the first thing a reader or CI sees.
import { inspect } from 'node:util';

const WIDTH = 80;

export default async function* concise(source) {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  let column = 0;
  const failures = [];
  /** What each test file wrote to stderr: shown under its failures only (a file that did not load says why there). */
  const stderrOf = new Map();
  const started = Date.now();
  const mark = (ch) => {
    column = (column + 1) % WIDTH;
    return column === 0 ? `${ch}\n` : ch;
  };
  for await (const event of source) {
    const data = event.data;
    if (event.type === 'test:stderr') {
      stderrOf.set(data.file, (stderrOf.get(data.file) ?? '') + data.message);
    } else if (event.type === 'test:pass') {
      if (data.details?.type === 'suite') continue;
      if (data.skip || data.todo) {
        skipped++;
        yield mark('s');
      } else {
        passed++;
        yield mark('.');
      }
    } else if (event.type === 'test:fail') {
      // a failed suite (or file) whose tests failed is counted through them; one that failed by
      // itself (a hook, a file that does not load) is a failure of its own
      const error = data.details?.error;
      if (data.details?.type === 'suite' && error?.failureType === 'subtestsFailed') continue;
      failed++;
      failures.push(data);
      yield mark('F');
    }
  }
  if (column !== 0) yield '\n';
  for (const f of failures) {
    const where = f.file ? `${f.file}${f.line ? `:${f.line}` : ''}` : '(unknown file)';
    const error = f.details?.error;
    const cause = error?.cause ?? error;
    yield `\nFAIL ${f.name}\n  at ${where}\n${indent(inspect(cause, { depth: 4 }))}\n`;
  }
  for (const file of new Set(failures.map((f) => f.file))) {
    const err = stderrOf.get(file);
    if (err) yield `\nstderr of ${file} (last 40 lines):\n${indent(err.trimEnd().split('\n').slice(-40).join('\n'))}\n`;
  }
  yield `\nduration ${((Date.now() - started) / 1000).toFixed(1)} s\n`;
  yield `${passed} passed, ${failed} failed, ${skipped} skipped\n`;
}

function indent(text) {
  return text
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}
