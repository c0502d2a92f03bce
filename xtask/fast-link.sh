#!/bin/sh
# Linker driver for cargo (see .cargo/config.toml): cc with the fastest linker
# available here. Behaves exactly like plain `cc` when neither is installed.
if command -v mold >/dev/null 2>&1; then
  exec cc -fuse-ld=mold "$@"
elif command -v ld.lld >/dev/null 2>&1; then
  exec cc -fuse-ld=lld "$@"
else
  exec cc "$@"
fi
