'use strict';
// bindings/node/index.d.ts: the TypeScript compiler accepts it and the uses
// of the API in types-check.ts (and rejects the misuses marked there), under
// the two module set-ups users have; and what it declares is what index.js
// exports. TypeScript is installed from npm into target/node-tools on first
// use; the compiler part is skipped only when npm cannot reach its registry.

const { test } = require('node:test');
const assert = require('node:assert');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ivm = require('../../bindings/node');

const root = path.resolve(__dirname, '../..');
const declarations = path.join(root, 'bindings/node/index.d.ts');
const checked = path.join(__dirname, 'types-check.ts');
const tools = path.join(root, 'target/node-tools');
const tsc = path.join(tools, 'node_modules/typescript/lib/tsc.js');

// The compiler, installed on first use. Returns its path, or the reason to
// skip when npm cannot reach the registry; fails on any other problem.
function typescript() {
  if (fs.existsSync(tsc)) return { tsc };
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const ping = spawnSync(npm, ['ping', '--fetch-retries=0'], { encoding: 'utf8', timeout: 60_000 });
  if (ping.error && ping.error.code === 'ENOENT') return { skip: 'npm is not installed, so TypeScript cannot be' };
  if (ping.status !== 0) {
    const why = /npm error code (\S+)/.exec(ping.stderr || '') || [, ping.error ? ping.error.message : `exit ${ping.status}`];
    return { skip: `npm cannot reach its registry to install TypeScript (npm ping: ${why[1]})` };
  }
  fs.mkdirSync(tools, { recursive: true });
  const install = spawnSync(
    npm,
    ['install', '--no-audit', '--no-fund', '--loglevel=error', '--prefix', tools, 'typescript@5'],
    { encoding: 'utf8', timeout: 300_000 },
  );
  assert.ok(fs.existsSync(tsc), `npm install typescript@5 failed:\n${install.stdout}\n${install.stderr}`);
  return { tsc };
}

function compile(compilerOptions) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ivm-types-'));
  try {
    const config = path.join(dir, 'tsconfig.json');
    fs.writeFileSync(config, JSON.stringify({ compilerOptions, files: [checked] }));
    return spawnSync(process.execPath, [tsc, '--pretty', 'false', '-p', config], { encoding: 'utf8', timeout: 120_000 });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const common = {
  strict: true,
  noEmit: true,
  skipLibCheck: false,
  target: 'es2022',
  lib: ['es2022'],
  types: [],
};

test('index.d.ts and types-check.ts type-check', async (t) => {
  const found = typescript();
  if (found.skip) {
    t.skip(found.skip);
    return;
  }
  const setups = {
    'CommonJS (module commonjs, node10 resolution, no esModuleInterop)': {
      module: 'commonjs',
      moduleResolution: 'node10',
      esModuleInterop: false,
    },
    'Node16+ (module nodenext, esModuleInterop)': {
      module: 'nodenext',
      moduleResolution: 'nodenext',
      esModuleInterop: true,
    },
  };
  for (const [name, options] of Object.entries(setups)) {
    await t.test(name, () => {
      const result = compile({ ...common, ...options });
      assert.strictEqual(result.error, undefined, String(result.error));
      assert.strictEqual(result.status, 0, `tsc reported:\n${result.stdout}${result.stderr}`);
    });
  }
});

// The declarations, read back: each exported class and its members. An
// optional property (`name?: T`) is one that some instances have as their
// own (a Script's `cachedData`), not a member of the prototype.
function declaredClasses() {
  const text = fs.readFileSync(declarations, 'utf8');
  const classes = new Map();
  let current = null;
  for (const line of text.split('\n')) {
    const opening = /^export declare class (\w+)/.exec(line);
    if (opening) {
      current = { statics: new Set(), members: new Set(), optional: new Set() };
      classes.set(opening[1], current);
      continue;
    }
    if (current && line.startsWith('}')) {
      current = null;
      continue;
    }
    const member = current && /^ {2}(static )?(?:readonly )?(\w+)\s*(\?:|[<(:?])/.exec(line);
    if (member && member[2] !== 'constructor') {
      const kind = member[3] === '?:' ? current.optional : member[1] ? current.statics : current.members;
      kind.add(member[2]);
    }
  }
  return classes;
}

test('index.d.ts declares every value index.js exports, and nothing else', () => {
  const classes = declaredClasses();
  const text = fs.readFileSync(declarations, 'utf8');
  assert.match(text, /^export \* as default from '.\/index';$/m);
  assert.strictEqual(ivm.default, ivm);
  const values = [...text.matchAll(/^export declare const (\w+)/gm)].map(([, name]) => name);
  const exported = Object.keys(ivm).filter((name) => name !== 'default').sort();
  assert.deepStrictEqual([...classes.keys(), ...values].sort(), exported);
});

test('the members index.d.ts declares exist at run time', () => {
  for (const [name, { statics, members, optional }] of declaredClasses()) {
    const cls = ivm[name];
    assert.strictEqual(typeof cls, 'function', name);
    for (const member of statics) assert.ok(member in cls, `${name}.${member}`);
    for (const member of optional) assert.ok(!(member in cls.prototype), `${name}#${member} is per instance`);
    for (const member of members) {
      if (member === 'code') {
        assert.strictEqual(typeof cls.prototype.code, 'string', `${name}#code`);
        continue;
      }
      assert.ok(member in cls.prototype, `${name}#${member}`);
    }
  }
});

test('error codes are the ones declared', () => {
  const text = fs.readFileSync(declarations, 'utf8');
  const pattern = /^export declare class (\w+) extends IvmError \{[^}]*readonly code: '(\w+)';/gm;
  let count = 0;
  for (const [, name, code] of text.matchAll(pattern)) {
    assert.strictEqual(ivm[name].prototype.code, code, name);
    assert.ok(new ivm[name]('x') instanceof ivm.IvmError, name);
    ++count;
  }
  assert.strictEqual(count, 10);
});

test('every public member index.js gives the classes is declared in index.d.ts', () => {
  for (const [name, { statics, members, optional }] of declaredClasses()) {
    const cls = ivm[name];
    const declared = new Set([...members, ...optional]);
    // Error classes get their members from Error; their own is `code`.
    const own = Object.getOwnPropertyNames(cls.prototype).filter((member) => !member.startsWith('_'));
    for (const member of own) {
      if (member === 'constructor' || (cls.prototype instanceof Error && member === 'name')) continue;
      assert.ok(declared.has(member), `${name}#${member} exists at run time but index.d.ts does not declare it`);
    }
    const ownStatics = Object.getOwnPropertyNames(cls).filter(
      (member) => !member.startsWith('_') && !['length', 'name', 'prototype', 'arguments', 'caller'].includes(member),
    );
    for (const member of ownStatics) {
      assert.ok(statics.has(member), `${name}.${member} exists at run time but index.d.ts does not declare it`);
    }
  }
});
