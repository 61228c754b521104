#!/bin/sh
# Starts Envoy with deploy/envoy/envoy.yaml, its clusters (127.0.0.1:50051 matcher,
# :50052 store, :50053 notifier in the checked-in file) pointed at $INLET_MATCHER_ADDR,
# $INLET_STORE_ADDR and $INLET_NOTIFIER_ADDR (host:port; a DNS name resolves to every
# address it has, e.g. a headless Service's pods), and the gateway's settings that Envoy's
# own answers hold: $INLET_EXTERNAL_PROBLEM_BASE (the integration dialect's problem base)
# and $INLET_GATEWAY_BODY_TIMEOUT_SECONDS (whole seconds here; the 408's deadline and
# message). Extra arguments go to Envoy.
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
base=${INLET_EXTERNAL_PROBLEM_BASE:-}
if [ -n "$base" ]; then
  case $base in
    http://*/ | https://*/) ;;
    *) echo "INLET_EXTERNAL_PROBLEM_BASE must be an http(s) URL ending in /, got '$base'" >&2; exit 2 ;;
  esac
  case $base in
    *'#'* | *'&'* | *'\'*) echo "INLET_EXTERNAL_PROBLEM_BASE: no '#', '&' or '\\' here, got '$base'" >&2; exit 2 ;;
  esac
  sed -i "s#type: https://api-errors.svit.one/#type: $base#" "$rendered"
fi
seconds=${INLET_GATEWAY_BODY_TIMEOUT_SECONDS:-}
if [ -n "$seconds" ]; then
  case $seconds in
    '' | *[!0-9]* | 0) echo "INLET_GATEWAY_BODY_TIMEOUT_SECONDS must be whole seconds here, got '$seconds'" >&2; exit 2 ;;
  esac
  sed -i -e "s/request_timeout: 30s/request_timeout: ${seconds}s/" \
    -e "s/the request body was not received within 30s/the request body was not received within ${seconds}s/" "$rendered"
fi
exec envoy -c "$rendered" "$@"
