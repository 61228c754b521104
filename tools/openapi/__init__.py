"""The OpenAPI 3.1 document of inlet's HTTP routes, generated from the protos by `make protos`."""
