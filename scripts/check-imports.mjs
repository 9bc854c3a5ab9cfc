#!/usr/bin/env node
// Checks the import boundaries written down in import-boundaries.json (see
// docs/architecture.md) over every .ts file under the configured roots.
// No dependencies: it reads static `import ... from`, `import '...'`,
// `export ... from` and dynamic `import('...')` with a line scanner, which is
// enough for code that puts each import statement at the start of a line.
//
//   node scripts/check-imports.mjs [--root <dir>] [--config <file>]
//
// Exit 0 when every import keeps to the rules, 1 with one line per broken
// rule (file:line, the import, the rule and why), 2 on a bad rules file.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, posix, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const RULE_KEYS = new Set(['from', 'except', 'allow', 'deny', 'why']);

function usage(message) {
  console.error(`check-imports: ${message}\nusage: check-imports.mjs [--root <dir>] [--config <file>]`);
  process.exit(2);
}

function parseArgs(argv) {
  const out = { root: resolve(dirname(fileURLToPath(import.meta.url)), '..'), config: undefined };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if ((flag === '--root' || flag === '--config') && value !== undefined) {
      out[flag.slice(2)] = resolve(value);
      i++;
    } else usage(`unknown argument ${JSON.stringify(flag)}`);
  }
  out.config ??= join(out.root, 'import-boundaries.json');
  return out;
}

/** Reads and checks the rules file; folder names are repository-relative, with '/'. */
function loadRules(file) {
  let doc;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    usage(`cannot read ${file}: ${err.message}`);
  }
  const folder = (v, where) => {
    if (typeof v !== 'string' || v === '' || v.startsWith('/') || v.endsWith('/') || v.includes('..')) {
      usage(`${file}: ${where}: ${JSON.stringify(v)} is not a repository-relative folder such as "src/core"`);
    }
    return v;
  };
  const folders = (v, where) => {
    if (v === undefined) return undefined;
    if (!Array.isArray(v)) usage(`${file}: ${where} must be a list of folders`);
    return v.map((f, i) => folder(f, `${where}[${i}]`));
  };
  if (!Array.isArray(doc?.roots) || !Array.isArray(doc?.rules)) usage(`${file}: needs "roots" and "rules" lists`);
  const rules = doc.rules.map((r, i) => {
    const where = `rules[${i}]`;
    for (const k of Object.keys(r)) if (!RULE_KEYS.has(k)) usage(`${file}: ${where}: unknown key "${k}" (allowed: ${[...RULE_KEYS].join(', ')})`);
    if ((r.allow === undefined) === (r.deny === undefined)) usage(`${file}: ${where}: give either "allow" or "deny"`);
    if (typeof r.why !== 'string' || r.why === '') usage(`${file}: ${where}: say "why" the rule exists`);
    return {
      from: folder(r.from, `${where}.from`),
      except: folders(r.except, `${where}.except`) ?? [],
      allow: folders(r.allow, `${where}.allow`),
      deny: folders(r.deny, `${where}.deny`),
      why: r.why,
    };
  });
  return { roots: folders(doc.roots, 'roots'), rules };
}

const isUnder = (path, folder) => path === folder || path.startsWith(`${folder}/`);

function tsFiles(root, dir, out) {
  const abs = join(root, dir);
  if (!existsSync(abs)) return out;
  for (const e of readdirSync(abs).sort()) {
    const rel = posix.join(dir, e);
    if (statSync(join(root, rel)).isDirectory()) tsFiles(root, rel, out);
    else if (e.endsWith('.ts') && !e.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

const STATIC_START = /^\s*(?:import(?!\s*\()|export\s*(?:type\s*)?[{*])/;
const FROM = /\bfrom\s*(['"])([^'"]+)\1/;
const SIDE_EFFECT = /^\s*import\s*(['"])([^'"]+)\1/;
const DYNAMIC = /\bimport\(\s*(['"])([^'"]+)\1\s*\)/g;
const COMMENT_LINE = /^\s*(?:\/\/|\/\*|\*)/;

/** The module specifiers a file imports, with the line each statement starts on. */
export function importsOf(text) {
  const lines = text.split('\n');
  const out = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (COMMENT_LINE.test(line)) continue;
    for (const m of line.matchAll(DYNAMIC)) out.push({ line: i + 1, spec: m[2] });
    if (!STATIC_START.test(line)) continue;
    const side = SIDE_EFFECT.exec(line);
    if (side) {
      out.push({ line: i + 1, spec: side[2] });
      continue;
    }
    // A statement may spread over lines: `import {\n  a,\n} from './a.js';`
    for (let j = i; j < lines.length && j < i + 200; j++) {
      const from = FROM.exec(lines[j]);
      if (from) {
        out.push({ line: i + 1, spec: from[2] });
        i = j;
        break;
      }
      if (lines[j].includes(';') || (j > i && STATIC_START.test(lines[j]))) break;
    }
  }
  return out;
}

/** The rule an import breaks, if any; `file` and `target` are repository-relative. */
function brokenRule(rules, file, target) {
  for (const r of rules) {
    if (!isUnder(file, r.from) || r.except.some((e) => isUnder(file, e))) continue;
    if (r.allow && !isUnder(target, r.from) && !r.allow.some((a) => isUnder(target, a))) {
      return { rule: r, says: r.allow.length ? `${r.from} may import only ${r.allow.join(', ')} (and itself)` : `${r.from} imports nothing outside itself` };
    }
    const denied = r.deny?.find((d) => isUnder(target, d));
    if (denied) return { rule: r, says: `${r.from}${r.except.length ? ` (except ${r.except.join(', ')})` : ''} must not import ${denied}` };
  }
  return undefined;
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  const { roots, rules } = loadRules(args.config);
  const problems = [];
  let files = 0;
  for (const r of roots) {
    for (const file of tsFiles(args.root, r, [])) {
      files++;
      for (const { line, spec } of importsOf(readFileSync(join(args.root, file), 'utf8'))) {
        if (!spec.startsWith('./') && !spec.startsWith('../')) continue; // a package or node: builtin
        const target = relative(args.root, resolve(args.root, posix.dirname(file), spec))
          .split(sep)
          .join('/');
        const broken = brokenRule(rules, file, target);
        if (broken) problems.push(`${file}:${line}: imports '${spec}' (${target}): ${broken.says}; why: ${broken.rule.why}`);
      }
    }
  }
  for (const p of problems) console.error(p);
  if (problems.length > 0) {
    console.error(`check-imports: ${problems.length} import(s) break the boundaries in ${relative(process.cwd(), args.config) || args.config}`);
    process.exit(1);
  }
  console.log(`check-imports: ${files} files keep to ${rules.length} rules`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
