#!/usr/bin/env bash
# Regenerates internal/onnxpb/onnx.pb.go from internal/onnxpb/onnx.proto
# (go generate ./internal/onnxpb runs it).
#
# onnx.proto is ONNX's own schema, copied unchanged from the ONNX release
# named in internal/onnxpb/doc.go (Debian's python3-onnx ships it as
# /usr/lib/python3/dist-packages/onnx/onnx.proto). To move to another ONNX
# release, copy that file over internal/onnxpb/onnx.proto (or pass its path
# as the first argument), update the version note in doc.go, and run this.
#
# Needs protoc (Debian: protobuf-compiler) and protoc-gen-go at the version
# go.mod pins google.golang.org/protobuf to:
#   go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
set -euo pipefail
cd "$(dirname "$0")/../internal/onnxpb"
if [ $# -ge 1 ]; then
  cp "$1" onnx.proto
fi
want=$(cd ../.. && go list -m -f '{{.Version}}' google.golang.org/protobuf)
if ! command -v protoc-gen-go >/dev/null 2>&1; then
  PATH="$(go env GOPATH)/bin:$PATH"
fi
have=$(protoc-gen-go --version | awk '{print $2}')
if [ "$have" != "$want" ]; then
  echo "protoc-gen-go is $have, go.mod has google.golang.org/protobuf $want: go install google.golang.org/protobuf/cmd/protoc-gen-go@$want" >&2
  exit 1
fi
protoc --go_out=. --go_opt=paths=source_relative \
  --go_opt=Monnx.proto=github.com/aegpu/aegpu/internal/onnxpb \
  onnx.proto
echo "generated internal/onnxpb/onnx.pb.go with $(protoc --version) and protoc-gen-go $have"
