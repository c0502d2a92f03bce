'use strict';
// The implementation the drop-in tests (dropin-*.test.js) run against: ivm,
// or, where IVM_PEER names an isolated-vm package directory, isolated-vm
// itself (`cargo xtask peer-tests` sets it). Those tests use only
// isolated-vm's API and assert only its behaviour, so the peer passing them
// is what shows they describe isolated-vm and not ivm.
const peer = process.env.IVM_PEER;

// The drop-in tests' `it`. A test named in `gaps` is a behaviour of
// isolated-vm that ivm does not have yet (listed in the README's
// isolated-vm section): against ivm it runs as a todo, which reports
// without failing the suite; against isolated-vm it is a test like any.
function itWithGaps(gaps) {
  const { it } = require('node:test');
  return (name, options, fn) => {
    if (typeof options === 'function') [options, fn] = [{}, options];
    return it(name, !peer && gaps.has(name) ? { ...options, todo: 'not yet in ivm' } : options, fn);
  };
}

module.exports = {
  itWithGaps,
  ivm: peer ? require(peer) : require('../../../bindings/node'),
  // Whether the tests run against isolated-vm (for the few assertions that
  // name an implementation, such as an error's `code`, which only ivm adds).
  isPeer: Boolean(peer),
};
