/**
 * The size rules of CONTRIBUTING.md: no TypeScript file over 400 lines, no function over 80. A test's
 * describe() body is a list of it() blocks and is not held to the function limit. Exits 1 on a breach.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import ts from 'typescript';

const MAX_FILE = 400;
const MAX_FUNCTION = 80;
const files = execFileSync('git', ['ls-files', 'packages/*.ts', 'test/*.ts', 'scripts/*.mjs'], { encoding: 'utf8' }).trim().split('\n');
const isDescribeBody = (n) => ts.isCallExpression(n.parent) && /^describe\b/.test(n.parent.expression.getText());
const problems = [];
for (const file of files) {
  const text = readFileSync(file, 'utf8');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const lines = text.split('\n').length;
  if (lines > MAX_FILE) problems.push(`${file}: ${lines} lines (at most ${MAX_FILE})`);
  const visit = (n) => {
    if (ts.isFunctionLike(n) && n.body && !isDescribeBody(n)) {
      const first = source.getLineAndCharacterOfPosition(n.getStart()).line;
      const last = source.getLineAndCharacterOfPosition(n.getEnd()).line;
      if (last - first + 1 > MAX_FUNCTION) problems.push(`${file}:${first + 1}: ${n.name?.getText() ?? 'a function'} is ${last - first + 1} lines (at most ${MAX_FUNCTION})`);
    }
    ts.forEachChild(n, visit);
  };
  visit(source);
}
for (const p of problems) process.stderr.write(`${p}\n`);
process.exit(problems.length > 0 ? 1 : 0);
