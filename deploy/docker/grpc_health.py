"""Container health check for docker compose: exit 0 when a gRPC server reports SERVING.

    python /app/grpc_health.py 127.0.0.1:50052 [service]

(Kubernetes probes gRPC health natively; compose has no such probe type.)
"""

import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def main() -> int:
    address = sys.argv[1]
    service = sys.argv[2] if len(sys.argv) > 2 else ""
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            answer = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=2)
        except grpc.RpcError as error:
            sys.stderr.write(f"{address}: {error.code().name}\n")
            return 1
    serving = answer.status == health_pb2.HealthCheckResponse.SERVING
    return 0 if serving else 1


if __name__ == "__main__":
    sys.exit(main())
