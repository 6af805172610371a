#!/usr/bin/env bash
# Generates the Python messages and stubs of strata's contract (proto/) into
# the folder given (default: clients/python/generated), with grpcio-tools.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/generated}"
mkdir -p "$out"
python3 -m grpc_tools.protoc \
  -I "$here/../../proto" \
  --python_out="$out" --grpc_python_out="$out" --pyi_out="$out" \
  "$here"/../../proto/strata/v1/*.proto
echo "generated into $out"
