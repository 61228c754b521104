#!/usr/bin/env bash
# Regenerates the one copy of generated protobuf code (gen/python), the descriptor set
# Envoy loads (gen/inlet.binpb) and the OpenAPI document of the HTTP routes
# (gen/python/inlet/openapi.json, which the gateway serves) from protos/. Deterministic,
# so CI can diff it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
PY="$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")"
# Optional first argument: a directory to write into instead of the repository (drift check).
dest=${1:-.}
out=$dest/gen/python
rm -rf "$out/inlet" "$dest/gen/inlet.binpb"
mkdir -p "$out"
mapfile -t files < <(cd protos && find inlet -name '*.proto' | LC_ALL=C sort)
"$PY" -m grpc_tools.protoc -I protos -I protos/third_party \
  --plugin=protoc-gen-mypy="$(dirname "$PY")/protoc-gen-mypy" \
  --plugin=protoc-gen-mypy_grpc="$(dirname "$PY")/protoc-gen-mypy_grpc" \
  --python_out="$out" --grpc_python_out="$out" \
  --mypy_out="$out" --mypy_grpc_out="$out" \
  "${files[@]}"
# Envoy's transcoder needs our services plus the google.rpc detail types it renders.
"$PY" -m grpc_tools.protoc -I protos -I protos/third_party \
  --include_imports --descriptor_set_out="$dest/gen/inlet.binpb" \
  "${files[@]}" google/rpc/status.proto google/rpc/error_details.proto
# Every generated directory is a regular package, so mypy and setuptools see one tree.
find "$out/inlet" -type d -exec touch {}/__init__.py \;
touch "$out/inlet/py.typed"
# Envoy's descriptor set also gets the HTTP twin of every public service (what both edges
# call; inlet_common.httptwins), once the generated package is whole.
"$PY" -m tools.edge_descriptors "$dest/gen/inlet.binpb"
# Envoy's own answers (local replies) in the gateway's envelopes, from the same Python.
if [ "$dest" = "." ]; then "$PY" -m tools.envoy_replies deploy/envoy/envoy.yaml; fi
# The OpenAPI document needs the comments, so it reads a descriptor set with source info.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
"$PY" -m grpc_tools.protoc -I protos -I protos/third_party \
  --include_imports --include_source_info --descriptor_set_out="$scratch/inlet.binpb" \
  "${files[@]}"
# Its generator reads the gateway's envelopes and body caps, so it runs once the
# generated package is whole.
"$PY" -m tools.openapi "$scratch/inlet.binpb" "$out/inlet/openapi.json"
