'use strict';
// The implementation the drop-in tests (dropin-*.test.js) run against: ivm,
// or, where IVM_PEER names an isolated-vm package directory, isolated-vm
// itself (`cargo xtask peer-tests` sets it). Those tests use only
// isolated-vm's API and assert only its behaviour, so the peer passing them
// is what shows they describe isolated-vm and not ivm.
const peer = process.env.IVM_PEER;

module.exports = {
  ivm: peer ? require(peer) : require('../../../bindings/node'),
  // Whether the tests run against isolated-vm (for the few assertions that
  // name an implementation, such as an error's `code`, which only ivm adds).
  isPeer: Boolean(peer),
};
