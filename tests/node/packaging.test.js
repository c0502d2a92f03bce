'use strict';
// The npm packages as users get them: `cargo xtask pack-node` lays them out
// as `cargo xtask dist` does (napi-rs's layout: the main package `ivm`, and
// `ivm-linux-x64-gnu` holding the addon, here the debug build) and packs
// them; they are installed from those tarballs into a fresh project under
// target/, and loaded there the ways programs load packages, and in the
// test runners people use (Jest and vitest, from npm).
const { test, before } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync, spawnSync } = require('node:child_process');
const { stripVTControlCharacters } = require('node:util');

const root = path.resolve(__dirname, '..', '..');
const packed = path.join(root, 'target', 'npm-pack');
const project = path.join(packed, `project-node${process.versions.node.split('.')[0]}`);

before(() => {
  execFileSync('cargo', ['xtask', 'pack-node'], { cwd: root, stdio: 'ignore' });
  const tarballs = fs.readdirSync(packed).filter((name) => name.endsWith('.tgz')).map((name) => path.join(packed, name));
  assert.equal(tarballs.length, 2, `two tarballs in ${packed}`);
  fs.rmSync(project, { recursive: true, force: true });
  fs.mkdirSync(project, { recursive: true });
  fs.writeFileSync(path.join(project, 'package.json'), '{ "name": "uses-ivm", "version": "1.0.0", "private": true }\n');
  // Offline: the platform packages not built here are optional, and skipped.
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--offline', '--loglevel=error', ...tarballs], { cwd: project });
});

// A user's environment: no flags, no addon override, and no colours (CI
// machines set CI, which turns test runners' colours on; assertions read
// plain text).
function userEnv() {
  const env = { ...process.env, NO_COLOR: '1' };
  delete env.NODE_OPTIONS;
  delete env.IVM_NODE_ADDON;
  delete env.FORCE_COLOR;
  return env;
}

// Runs `source` as a file named `name` in the project, with no flags.
function runIn(name, source) {
  const file = path.join(project, name);
  fs.writeFileSync(file, source);
  return execFileSync(process.execPath, [file], { cwd: project, encoding: 'utf8', env: userEnv() });
}

test('the installed packages have napi-rs\'s layout', () => {
  const main = JSON.parse(fs.readFileSync(path.join(project, 'node_modules/ivm/package.json'), 'utf8'));
  assert.ok(main.optionalDependencies['ivm-linux-x64-gnu'], 'the platform packages are optional dependencies');
  assert.equal(fs.existsSync(path.join(project, 'node_modules/ivm/ivm.node')), false, 'the main package has no binary');
  const platform = JSON.parse(fs.readFileSync(path.join(project, 'node_modules/ivm-linux-x64-gnu/package.json'), 'utf8'));
  assert.deepEqual([platform.os, platform.cpu, platform.libc], [['linux'], ['x64'], ['glibc']]);
  assert.ok(fs.existsSync(path.join(project, 'node_modules/ivm-linux-x64-gnu/ivm.node')));
});

test('require, ESM import, the vm subpath and a worker thread load it', () => {
  assert.equal(runIn('cjs.js', "const ivm = require('ivm'); console.log(new ivm.Isolate().createContextSync().evalSync('6 * 7'))"), '42\n');
  assert.equal(
    runIn('esm.mjs', "import ivm from 'ivm'; import { Isolate } from 'ivm'; import vm from 'ivm/vm'; console.log(ivm.Isolate === Isolate, vm.runInNewContext('x + 1', { x: 1 }))"),
    'true 2\n',
  );
  assert.equal(
    runIn(
      'worker.js',
      `const { Worker } = require('node:worker_threads');
       const worker = new Worker("const ivm = require('ivm'); require('node:worker_threads').parentPort.postMessage(new ivm.Isolate().createContextSync().evalSync('1 + 2'))", { eval: true });
       worker.on('message', (value) => { console.log(value); worker.terminate(); });`,
    ),
    '3\n',
  );
});

test('without its platform package, loading says which platform and how to build', () => {
  const platformDir = path.join(project, 'node_modules/ivm-linux-x64-gnu');
  const aside = `${platformDir}.aside`;
  fs.renameSync(platformDir, aside);
  try {
    assert.throws(
      () => runIn('missing.js', "require('ivm')"),
      (error) => /no native addon for linux-x64-gnu/.test(error.stderr) && /cargo xtask node/.test(error.stderr),
    );
  } finally {
    fs.renameSync(aside, platformDir);
  }
});

// Three test files that each load ivm and its vm module.
function testFiles(dir, header) {
  fs.mkdirSync(path.join(project, dir), { recursive: true });
  for (const i of [1, 2, 3]) {
    fs.writeFileSync(
      path.join(project, dir, `t${i}.test.js`),
      `${header}
      test('file ${i}', () => {
        const context = new ivm.Isolate({ memoryLimit: 32 }).createContextSync();
        expect(context.evalSync('${i} * 2')).toBe(${i} * 2);
        expect(context.evalSync('[1, { a: 2 }]', { copy: true })).toEqual([1, { a: 2 }]);
        expect(vm.runInNewContext('x + 1', { x: ${i} })).toBe(${i} + 1);
      });\n`,
    );
  }
}

test('Jest runs three test files loading ivm in one worker, and vitest in each of its pools', { timeout: 300_000 }, () => {
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', 'jest@29', 'vitest@2'], { cwd: project });
  const env = userEnv();
  const bin = (name) => path.join(project, 'node_modules', '.bin', name);
  testFiles('jest', "const ivm = require('ivm'); const vm = require('ivm/vm');");
  const jest = spawnSync(process.execPath, [bin('jest'), '--rootDir', 'jest', '--maxWorkers=1'], { cwd: project, env, encoding: 'utf8' });
  assert.equal(jest.status, 0, jest.stderr);
  assert.match(stripVTControlCharacters(jest.stderr), /Test Suites: 3 passed, 3 total/);
  testFiles('vitest', "import { test, expect } from 'vitest'; import ivm from 'ivm'; import vm from 'ivm/vm';");
  fs.writeFileSync(path.join(project, 'vitest', 'package.json'), '{ "type": "module" }\n');
  for (const pool of ['forks', 'threads', 'vmThreads']) {
    const output = execFileSync(process.execPath, [bin('vitest'), 'run', '--root', 'vitest', '--pool', pool], { cwd: project, env, encoding: 'utf8' });
    assert.match(stripVTControlCharacters(output), /Test Files {2}3 passed \(3\)/, `${pool}: ${output}`);
  }
});

// A program written against isolated-vm's typings, with only its import
// changed, in each import form, as a user's TypeScript project compiles it.
const TYPESCRIPT_PROGRAM = (importLine, ns) => `${importLine}
const isolate = new ${ns}.Isolate({ memoryLimit: 128 });
const context: ${ns}.Context = isolate.createContextSync();
const jail: ${ns}.Reference<Record<string, unknown>> = context.global;
jail.setSync('global', jail.derefInto());
const add: ${ns}.Reference<(a: number, b: number) => number> = context.evalSync('(a, b) => a + b', { reference: true });
const sum: number = add.applySync(undefined, [1, 2], { result: { copy: true } });
const copy = new ${ns}.ExternalCopy({ list: [1, 2] });
const back: { list: number[] } = copy.copy();
console.log(sum, back.list.length);
`;

test('TypeScript programs compile against the installed typings in every import form, commonjs and nodenext', { timeout: 300_000 }, () => {
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', 'typescript@5'], { cwd: project });
  const tsc = path.join(project, 'node_modules', 'typescript', 'lib', 'tsc.js');
  const forms = [
    ["import ivm from 'ivm';", 'ivm'],
    ["import * as ivm from 'ivm';", 'ivm'],
    ["import ivm = require('ivm');", 'ivm'],
  ];
  for (const [module, resolution, extension] of [['commonjs', 'node10', 'ts'], ['nodenext', 'nodenext', 'cts']]) {
    const dir = path.join(project, `ts-${module}`);
    fs.mkdirSync(dir, { recursive: true });
    const files = forms.map(([line, ns], i) => {
      const file = `form${i}.${extension}`;
      fs.writeFileSync(path.join(dir, file), TYPESCRIPT_PROGRAM(line, ns));
      return file;
    });
    const named = `named.${extension}`;
    fs.writeFileSync(
      path.join(dir, named),
      "import { Isolate, Reference } from 'ivm';\nconst isolate = new Isolate();\nconst ref: Reference<number> = new Reference(1);\nvoid isolate; void ref;\n",
    );
    fs.writeFileSync(
      path.join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { strict: true, module, moduleResolution: resolution, esModuleInterop: true, noEmit: true, types: [], skipLibCheck: false },
        files: [...files, named],
      }),
    );
    const result = spawnSync(process.execPath, [tsc, '-p', dir, '--pretty', 'false'], { encoding: 'utf8' });
    assert.equal(result.status, 0, `${module}: ${result.stdout}${result.stderr}`);
  }
});

