"""inlet's HTTP edge: JSON over HTTP to gRPC, routed by the protos' google.api.http annotations."""
