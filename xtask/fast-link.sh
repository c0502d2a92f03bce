#!/bin/sh
# Linker driver for cargo (see .cargo/config.toml): cc with the fastest linker
# available here. Behaves exactly like plain `cc` when neither is installed.
#
# A library that brings its own export list (the Node addon's exports.map)
# gets that list alone: rustc's own would also export every `#[no_mangle]`
# function of the crates linked in (the v8 crate's among them).
case " $* " in
  *" -Wl,--version-script="*"/exports.map "*)
    for arg in "$@"; do
      shift
      case "$arg" in
        -Wl,--version-script=*/exports.map) set -- "$@" "$arg" ;;
        -Wl,--version-script=*) ;;
        *) set -- "$@" "$arg" ;;
      esac
    done
    ;;
esac
if command -v mold >/dev/null 2>&1; then
  exec cc -fuse-ld=mold "$@"
elif command -v ld.lld >/dev/null 2>&1; then
  exec cc -fuse-ld=lld "$@"
else
  exec cc "$@"
fi
