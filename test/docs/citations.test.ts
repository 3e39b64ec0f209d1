/**
 * Section citations in code and docs must resolve inside the repository: every
 * `method.md §N` / `architecture.md §N` names a numbered heading of docs/method.md or
 * docs/architecture.md, and nothing cites the external documents the project started from.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SCANNED = ['src', 'test', 'bench', 'bin', 'README.md', 'docs'];
const TEXT_EXTENSIONS = /\.(ts|js|mjs|cjs|md|html|css|json)$/;
const DOCS = { method: 'docs/method.md', architecture: 'docs/architecture.md' } as const;

// Built from pieces so that this file does not match its own patterns.
const FORBIDDEN: Array<{ what: string; pattern: RegExp }> = [
  { what: 'external spec', pattern: new RegExp('\\b' + 'SP' + 'EC\\s*§') },
  { what: 'external design doc', pattern: new RegExp('\\b' + 'DES' + 'IGN\\.md\\b') },
  { what: 'external notes', pattern: new RegExp('paper' + '-notes|engine' + '-research') },
];

/** Section numbers ("2", "2.1") of a markdown file's numbered headings (`## 2. Title`, `### 2.1 Title`). */
export function headingSections(markdown: string): Set<string> {
  const out = new Set<string>();
  for (const line of markdown.split('\n')) {
    const m = /^#{1,6}\s+(\d+(?:\.\d+)*)\.?\s/.exec(line);
    if (m) out.add(m[1]);
  }
  return out;
}

export interface Citation {
  doc: keyof typeof DOCS;
  section: string;
  line: number;
}

/**
 * Citations of one text: `method.md §4`, `architecture.md §4.2`, and lists or ranges after one
 * file name (`method.md §2–§3`, `method.md §6.2, §4`, `method.md §8.5 / §7`).
 */
export function citationsIn(text: string): Citation[] {
  const out: Citation[] = [];
  const lines = text.split('\n');
  const group = /\b(method|architecture)\.md\s*((?:§\s?\d+(?:\.\d+)*(?:\s*(?:,|\/|–|-|and|or)\s*(?=§))?)+)/g;
  lines.forEach((lineText, i) => {
    for (const m of lineText.matchAll(group)) {
      for (const s of m[2].matchAll(/§\s?(\d+(?:\.\d+)*)/g)) {
        out.push({ doc: m[1] as Citation['doc'], section: s[1], line: i + 1 });
      }
    }
  });
  return out;
}

function scannedFiles(): string[] {
  const files: string[] = [];
  const walk = (path: string): void => {
    const rel = relative(ROOT, path);
    // experiment reports are generated output, quoted as they were written
    if (rel.startsWith(join('docs', 'report-')) || rel.includes('node_modules')) return;
    if (statSync(path).isDirectory()) {
      for (const name of readdirSync(path)) walk(join(path, name));
    } else if (TEXT_EXTENSIONS.test(path)) {
      files.push(path);
    }
  };
  for (const entry of SCANNED) walk(join(ROOT, entry));
  return files;
}

describe('section citations (docs/method.md, docs/architecture.md)', () => {
  const sections = {
    method: headingSections(readFileSync(join(ROOT, DOCS.method), 'utf8')),
    architecture: headingSections(readFileSync(join(ROOT, DOCS.architecture), 'utf8')),
  };
  const files = scannedFiles();

  it('parses citations and headings', () => {
    assert.deepEqual(
      citationsIn('x (method.md §2–§3; architecture.md §4.2, §5) and method.md §6.1.').map((c) => `${c.doc} ${c.section}`),
      ['method 2', 'method 3', 'architecture 4.2', 'architecture 5', 'method 6.1'],
    );
    assert.deepEqual([...headingSections('# T\n## 1. A\n### 1.2 B\n## Refs\n#### 8.5 C')], ['1', '1.2', '8.5']);
    assert.ok(sections.method.has('6.1') && sections.architecture.has('5'), 'the docs have numbered headings');
  });

  it('every cited section has a heading in its doc', () => {
    const missing: string[] = [];
    let count = 0;
    for (const file of files) {
      for (const c of citationsIn(readFileSync(file, 'utf8'))) {
        count++;
        if (!sections[c.doc].has(c.section)) missing.push(`${relative(ROOT, file)}:${c.line}: ${c.doc}.md §${c.section}`);
      }
    }
    // the code cites the docs in hundreds of places: a handful means the scan is broken
    assert.ok(count > 100, `only ${count} citations found: is the scan reading the source tree?`);
    assert.deepEqual(missing, [], `citations of sections that ${DOCS.method} / ${DOCS.architecture} do not have`);
  });

  it('nothing cites the documents outside the repository', () => {
    const found: string[] = [];
    for (const file of files) {
      readFileSync(file, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          for (const { what, pattern } of FORBIDDEN) {
            if (pattern.test(line)) found.push(`${relative(ROOT, file)}:${i + 1}: ${what}: ${line.trim()}`);
          }
        });
    }
    assert.deepEqual(found, []);
  });
});
