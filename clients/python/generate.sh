#!/usr/bin/env bash
# Regenerates the Python messages and stubs of strata's contract (proto/)
# that the strata-client package ships checked in, under strata/v1/ (or
# into the folder given: the staleness test generates into a temporary one
# and compares). Needs grpcio-tools at the version pinned in
# requirements.txt; installing the package needs no generation step.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here}"
mkdir -p "$out/strata/v1"
python3 -m grpc_tools.protoc \
  -I "$here/../../proto" \
  --python_out="$out" --grpc_python_out="$out" --pyi_out="$out" \
  "$here"/../../proto/strata/v1/*.proto
# Regular packages (not namespace packages), so setuptools ships them.
for package in "$out/strata" "$out/strata/v1"; do
  echo '"""Generated from proto/ by clients/python/generate.sh: do not edit."""' >"$package/__init__.py"
done
echo "generated into $out/strata/v1"
