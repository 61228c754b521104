#!/bin/sh
# Starts Envoy with deploy/envoy/envoy.yaml, its matcher cluster (127.0.0.1:50051 in the
# checked-in file) pointed at $INLET_MATCHER_ADDR (host:port; a DNS name resolves to
# every address it has, e.g. a headless Service's pods). Extra arguments go to Envoy.
# Run from a directory holding gen/inlet.binpb (the image's WORKDIR).
set -eu
config=${INLET_ENVOY_CONFIG:-deploy/envoy/envoy.yaml}
addr=${INLET_MATCHER_ADDR:-127.0.0.1:50051}
host=${addr%:*}
port=${addr##*:}
case $port in
  '' | *[!0-9]*) echo "INLET_MATCHER_ADDR must be host:port, got '$addr'" >&2; exit 2 ;;
esac
rendered=$(mktemp -d)/envoy.yaml # Envoy tells YAML from JSON by the extension
sed "s/{ address: 127.0.0.1, port_value: 50051 }/{ address: $host, port_value: $port }/" \
  "$config" >"$rendered"
if ! grep -q "{ address: $host, port_value: $port }" "$rendered"; then
  echo "$config: no matcher address '127.0.0.1:50051' to replace" >&2
  exit 2
fi
exec envoy -c "$rendered" "$@"
