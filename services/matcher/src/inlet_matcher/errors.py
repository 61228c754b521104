"""The matcher's errors.

inlet_common.errors.InletError
├── InvalidArgument ── ValidationFailed   (every bad field, each named)
│                   └── EdgeRejected      (the gateway refused the body; reason kept)
├── ResourceExhausted ── PayloadTooLarge
├── NotFound                              (endpoint token; from the store)
└── UpstreamError                         (any other store answer, passed on)
"""

from __future__ import annotations

from inlet_common.errors import InvalidArgument, ResourceExhausted


class ValidationFailed(InvalidArgument):
    reason = "VALIDATION_FAILED"


class EdgeRejected(InvalidArgument):
    """A body the edge refused (malformed JSON, wrong shape); logged like any failure."""


class PayloadTooLarge(ResourceExhausted):
    reason = "PAYLOAD_TOO_LARGE"
