/**
 * The layering of docs/architecture.md §3, enforced: the allowed imports are read from that page's
 * table (so the page states exactly what is checked), every relative import of every file in src/
 * is parsed, and an import between units the table does not allow fails, naming file and line.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SRC = join(ROOT, 'src');

/** The §3 table: unit → the units it may import. */
export function readRules(markdown: string): Map<string, Set<string>> {
  const section = markdown.slice(markdown.indexOf('## 3. Import rules'), markdown.indexOf('## 4.'));
  const rules = new Map<string, Set<string>>();
  for (const line of section.split('\n')) {
    const m = /^\| `([^`]+)` \| (.+) \|$/.exec(line);
    if (!m) continue;
    const allowed = m[2].trim() === 'nothing' ? [] : [...m[2].matchAll(/`([^`]+)`/g)].map((x) => x[1]);
    rules.set(m[1], new Set(allowed));
  }
  return rules;
}

/** The packages only one unit may import: "Packages: only `engine/` imports `a` and `b`." */
export function readPackageRules(markdown: string): Map<string, string> {
  const m = /^Packages: only `([^`]+)` imports (.+)\.$/m.exec(markdown);
  assert.ok(m, 'architecture.md §3 names the packages only one unit may import');
  return new Map([...m[2].matchAll(/`([^`]+)`/g)].map((x) => [x[1], m[1]]));
}

/** The unit of a file under src/: its folder (`data/synth/` apart), or the top-level file itself. */
export function unitOf(file: string): string {
  const parts = relative(SRC, file).split('/');
  if (parts.length === 1) return parts[0];
  if (parts[0] === 'data' && parts[1] === 'synth' && parts.length > 2) return 'data/synth/';
  return `${parts[0]}/`;
}

export interface Import {
  file: string;
  line: number;
  specifier: string;
}

/** Static imports, `export … from` and dynamic `import('…')` of a source text (block comments skipped). */
export function importsOf(file: string, text: string): Import[] {
  const blanked = text.replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, ' '));
  const out: Import[] = [];
  for (const m of blanked.matchAll(/(?:\bfrom|\bimport)\s*\(?\s*['"]([^'"]+)['"]/g)) {
    out.push({ file, line: blanked.slice(0, m.index).split('\n').length, specifier: m[1] });
  }
  return out;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? sourceFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Every import the rules forbid, as "file:line: unit → unit (specifier)". */
export function violations(rules: Map<string, Set<string>>, packages: Map<string, string>, files: Array<{ file: string; text: string }>): string[] {
  const problems: string[] = [];
  for (const { file, text } of files) {
    const from = unitOf(file);
    const where = (i: Import): string => `${relative(ROOT, i.file)}:${i.line}`;
    if (!rules.has(from)) {
      problems.push(`${relative(ROOT, file)}: unit ${from} is not in the table of architecture.md §3`);
      continue;
    }
    for (const i of importsOf(file, text)) {
      if (!i.specifier.startsWith('.')) {
        const pkg = i.specifier.startsWith('@') ? i.specifier.split('/').slice(0, 2).join('/') : i.specifier.split('/')[0];
        const owner = packages.get(pkg);
        if (owner !== undefined && owner !== from) problems.push(`${where(i)}: ${from} imports ${pkg}, which only ${owner} may import`);
        continue;
      }
      const target = resolve(dirname(file), i.specifier.replace(/\.js$/, '.ts'));
      if (!target.startsWith(SRC + '/')) {
        problems.push(`${where(i)}: imports ${i.specifier} from outside src/`);
        continue;
      }
      const to = unitOf(target);
      if (to !== from && !rules.get(from)!.has(to)) problems.push(`${where(i)}: ${from} → ${to} (${i.specifier}) is not allowed by architecture.md §3`);
    }
  }
  return problems;
}

describe('architecture.md §3 import rules', () => {
  const doc = readFileSync(join(ROOT, 'docs', 'architecture.md'), 'utf8');
  const rules = readRules(doc);
  const packages = readPackageRules(doc);

  it('the table names every unit and only units that exist', () => {
    const units = new Set(sourceFiles(SRC).map(unitOf));
    assert.deepEqual([...rules.keys()].filter((u) => !units.has(u)), [], 'table rows without files');
    for (const [unit, allowed] of rules) for (const a of allowed) assert.ok(rules.has(a), `${unit} may import ${a}, which is not a row`);
  });

  it('every import in src/ follows it', () => {
    const files = sourceFiles(SRC).map((file) => ({ file, text: readFileSync(file, 'utf8') }));
    assert.deepEqual(violations(rules, packages, files), []);
  });

  it('fails on an upward import, an unknown folder and a package outside its layer', () => {
    const fake = (path: string, text: string): { file: string; text: string } => ({ file: join(SRC, path), text });
    const found = violations(rules, packages, [
      fake('train/x.ts', "import { runDemo } from '../lab/demo.js';\nconst m = await import('../serve/server.js');"),
      fake('model/y.ts', "/* import { a } from '../train/trainer.js' */\nimport ort from 'onnxruntime-node';"),
      fake('extra/z.ts', "import { UserError } from '../errors.js';"),
    ]);
    assert.deepEqual(found, [
      'src/train/x.ts:1: train/ → lab/ (../lab/demo.js) is not allowed by architecture.md §3',
      'src/train/x.ts:2: train/ → serve/ (../serve/server.js) is not allowed by architecture.md §3',
      'src/model/y.ts:2: model/ imports onnxruntime-node, which only engine/ may import',
      'src/extra/z.ts: unit extra/ is not in the table of architecture.md §3',
    ]);
  });
});
