#!/bin/sh
# Starts Envoy with deploy/envoy/envoy.yaml, its clusters (127.0.0.1:50051 matcher,
# :50052 store, :50053 notifier in the checked-in file) pointed at $INLET_MATCHER_ADDR,
# $INLET_STORE_ADDR and $INLET_NOTIFIER_ADDR (host:port; a DNS name resolves to every
# address it has, e.g. a headless Service's pods). Extra arguments go to Envoy.
# Run from a directory holding gen/inlet.binpb (the image's WORKDIR).
set -eu
config=${INLET_ENVOY_CONFIG:-deploy/envoy/envoy.yaml}
rendered=$(mktemp -d)/envoy.yaml # Envoy tells YAML from JSON by the extension
cp "$config" "$rendered"
point() { # point VARIABLE DEFAULT_PORT: replace the cluster's checked-in address
  addr=$2
  host=${addr%:*}
  port=${addr##*:}
  case $port in
    '' | *[!0-9]*) echo "$1 must be host:port, got '$addr'" >&2; exit 2 ;;
  esac
  if ! grep -q "{ address: 127.0.0.1, port_value: $3 }" "$rendered"; then
    echo "$config: no address '127.0.0.1:$3' to replace for $1" >&2
    exit 2
  fi
  sed -i "s/{ address: 127.0.0.1, port_value: $3 }/{ address: $host, port_value: $port }/" "$rendered"
}
point INLET_MATCHER_ADDR "${INLET_MATCHER_ADDR:-127.0.0.1:50051}" 50051
point INLET_STORE_ADDR "${INLET_STORE_ADDR:-127.0.0.1:50052}" 50052
point INLET_NOTIFIER_ADDR "${INLET_NOTIFIER_ADDR:-127.0.0.1:50053}" 50053
exec envoy -c "$rendered" "$@"
