"""Whether the box takes another call: its free call slots, and why it has none (all in use, drained with
`[line] max_calls = 0`, or stopping on SIGTERM). No I/O: the call service counts its calls, and the lines say it.

Several boxes behind one proxy (Kamailio) or PBX need each box to say this before a call is sent to it: a SIP line
answers OPTIONS with 200 while a slot is free and 503 with Retry-After otherwise, so the proxy takes the box out of its
set until it has room again. A call that comes anyway is refused at once with `[line] overflow = reject` (486 Busy Here
when full, 503 when drained or stopping), so the proxy tries the next box; a single box keeps `message`, where one call
over the limit hears a short busy message instead of a busy tone.
"""

from __future__ import annotations

from dataclasses import dataclass

# How long a proxy may leave the box alone (SIP Retry-After): a full box frees a slot within a call's length, a
# stopping one is back after its restart, a drained one when a technician says so.
RETRY_AFTER_S = {"full": 30, "stopping": 60, "drained": 300}


@dataclass(frozen=True)
class Capacity:
    """The box's call slots now: `max_calls` ([line]), the calls in progress, whether it is stopping, and what a call
    over the limit gets (`overflow`: message or reject)."""

    max_calls: int
    in_progress: int = 0
    stopping: bool = False
    overflow: str = "message"

    @property
    def why_not(self) -> str:
        """Why the box takes no call now: stopping, drained (max_calls = 0) or full; "" while it takes one."""
        if self.stopping:
            return "stopping"
        if self.max_calls == 0:
            return "drained"
        return "full" if self.in_progress >= self.max_calls else ""

    @property
    def accepting(self) -> bool:
        """Whether a new call gets a slot."""
        return not self.why_not

    @property
    def free(self) -> int:
        """Slots free for new calls."""
        return 0 if self.stopping else max(self.max_calls - self.in_progress, 0)

    @property
    def retry_after_s(self) -> int | None:
        """Seconds to say in Retry-After while the box takes no call; None while it takes one."""
        return RETRY_AFTER_S.get(self.why_not)

    def refusal(self) -> int | None:
        """The SIP status a new call is refused with, or None when it is taken (one over the limit then hears the busy
        message). A stopping box refuses every call, whatever `overflow` says: it is about to go away."""
        if self.why_not == "stopping" or (self.why_not and self.overflow == "reject"):
            return 486 if self.why_not == "full" else 503
        return None

    def to_dict(self) -> dict:
        """What the health output says: the slots, and whether and why a call is taken."""
        return {"max_calls": self.max_calls, "in_progress": self.in_progress, "free": self.free,
                "accepting": self.accepting, "why_not": self.why_not, "overflow": self.overflow}
