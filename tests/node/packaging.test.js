'use strict';
// The npm packages as users get them: `cargo xtask pack-node` lays them out
// as `cargo xtask dist` does (napi-rs's layout: the main package `ivm`, and
// `ivm-linux-x64-gnu` holding the addon, here the debug build) and packs
// them; they are installed from those tarballs into a fresh project under
// target/, and loaded there the ways programs load packages.
const { test, before } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

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

// Runs `source` as a file named `name` in the project, with no flags.
function runIn(name, source) {
  const file = path.join(project, name);
  fs.writeFileSync(file, source);
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  delete env.IVM_NODE_ADDON;
  return execFileSync(process.execPath, [file], { cwd: project, encoding: 'utf8', env });
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
