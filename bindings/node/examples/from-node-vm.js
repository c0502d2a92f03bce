'use strict';
// A program moved from node:vm (and from vm2) to ivm/vm: only the require
// changed. The same calls now run the code in an isolate of its own.
const vm = require('../vm'); // was: require('vm'); from a package: require('ivm/vm')
const util = require('node:util');

// node:vm's own example: globals copied in, and the changes written back.
const sandbox = { animal: 'cat', count: 2 };
vm.runInNewContext('count += 1; name = "kitty"', sandbox);
console.log(util.inspect(sandbox));

// A context kept between runs, with a host function inside.
const context = vm.createContext({ log: (...args) => console.log('[sandbox]', ...args) });
vm.runInContext('var total = 0; function add(n) { total += n; log("added", n); }', context);
vm.runInContext('add(40); add(2)', context);
console.log('total:', context.total);

// What node:vm cannot stop, ivm/vm does: the escape finds nothing,
try {
  vm.runInNewContext('this.constructor.constructor("return process")().exit(1)');
} catch (error) {
  console.log('escape:', error.name, error.message);
}
// runaway code ends at its timeout,
try {
  vm.runInNewContext('for (;;) {}', {}, { timeout: 100 });
} catch (error) {
  console.log('timeout:', error.code);
}
// and a memory bomb ends at the context's limit, with the process alive.
try {
  vm.runInNewContext('const a = []; for (;;) a.push(new Array(1e5).fill(1))', {}, { memoryLimit: 32 });
} catch (error) {
  console.log('memory:', error.constructor.name);
}

// vm2's `new VM({ timeout, sandbox }).run(code)`, as a recipe.
function runLikeVm2(code, { timeout, sandbox = {} } = {}) {
  return vm.runInNewContext(code, sandbox, { timeout });
}
console.log('vm2-style:', runLikeVm2('a + b', { timeout: 1000, sandbox: { a: 40, b: 2 } }));
