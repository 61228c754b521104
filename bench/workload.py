"""The endpoint-push workload: deterministic contact pushes, about half of them repeats."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

_FIRST = ("Ola", "Kari", "Nora", "Emil", "Ingrid", "Jakob", "Sofie", "Lukas", "Maja", "Henrik")
_LAST = ("Nordmann", "Hansen", "Johansen", "Olsen", "Larsen", "Berg", "Haugen", "Dahl")


@dataclass(frozen=True)
class Contact:
    """One push; e-mail and phone are already normalised, so the ceiling can store them as is."""

    name: str
    email: str
    phone: str
    is_new: bool  # the e-mail has not been pushed before in this workload

    def fields(self) -> dict[str, str]:
        return {"name": self.name, "email": self.email, "phone": self.phone}

    def body(self) -> bytes:
        return json.dumps({"fields": self.fields()}).encode()


@dataclass(frozen=True)
class Workload:
    warmup: list[Contact]
    measured: list[Contact]

    @property
    def expected_creates(self) -> int:
        return sum(c.is_new for c in self.measured)


def contact_pushes(warmup: int, measured: int, *, seed: int, new_share: float) -> Workload:
    """`warmup + measured` pushes: each is a new contact with probability `new_share`, else
    a repeat (new name, same e-mail and phone) of a uniformly chosen earlier contact."""
    rng = random.Random(seed)
    known: list[tuple[str, str]] = []
    pushes: list[Contact] = []
    for _ in range(warmup + measured):
        name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
        if not known or rng.random() < new_share:
            n = len(known)
            # Norwegian mobile numbers (+479 and seven digits) are valid for phonenumbers.
            known.append((f"contact{n:07d}.{rng.randrange(16**6):06x}@example.com", f"+479{n:07d}"))
            email, phone = known[-1]
            pushes.append(Contact(name, email, phone, is_new=True))
        else:
            email, phone = known[rng.randrange(len(known))]
            pushes.append(Contact(name, email, phone, is_new=False))
    return Workload(warmup=pushes[:warmup], measured=pushes[warmup:])
