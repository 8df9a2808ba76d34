"""Datagrams from addresses off `[line] sip_allow`, with no I/O: a few a second are read and refused, the rest dropped
unread, and the log gets one line a minute about them instead of one per datagram.

A flood from such an address must cost next to nothing: the user agent asks `admit` before it parses a datagram, and
only an admitted one is parsed and answered 403 (a token bucket per address, and one for all of them together). What
is kept is bounded whatever arrives: at most `MAX_TRACKED` buckets, a count for at most `MAX_COUNTED` addresses a
minute, and the totals; no transaction, no cached response, no retransmission timer.
"""

from __future__ import annotations

from collections import Counter, OrderedDict

RATE_PER_S = 2.0  # datagrams read (and refused) per second from one address, after a first burst of BURST
BURST = 4.0
TOTAL_RATE_PER_S = 20.0  # ...and from all such addresses together (a flood from many spoofed addresses)
TOTAL_BURST = 20.0
MAX_TRACKED = 256  # addresses with a bucket; past it a new address is read only once an old one has been quiet
MAX_COUNTED = 1024  # addresses counted one by one in a minute's summary; past it only the totals grow
SUMMARY_S = 60.0
TOP = 3  # addresses named in the summary


def _refilled(tokens: float, at: float, now: float, rate: float, burst: float) -> float:
    return min(burst, tokens + max(0.0, now - at) * rate)


class ForbiddenSources:
    """What the user agent keeps of datagrams from addresses it does not serve: buckets and counters, bounded."""

    def __init__(self) -> None:
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # host → (tokens, at), oldest first
        self._total = (TOTAL_BURST, 0.0)
        self.datagrams = 0  # every datagram ever counted
        self.refused = 0  # those read and answered 403
        self._since: float | None = None  # when this minute's counting began
        self._counts: Counter[str] = Counter()
        self._uncounted = 0  # datagrams from addresses past MAX_COUNTED this minute
        self._minute = [0, 0]  # datagrams, refused: this minute

    def admit(self, host: str, now: float) -> bool:
        """Count one datagram from `host`; True when it may be read (and a request in it answered 403)."""
        self.datagrams += 1
        self._minute[0] += 1
        if self._since is None:
            self._since = now
        if host in self._counts or len(self._counts) < MAX_COUNTED:
            self._counts[host] += 1
        else:
            self._uncounted += 1
        kept = self._buckets.pop(host, None)  # put back at the end: the order is that of the last datagram
        if kept is None and len(self._buckets) >= MAX_TRACKED and not self._forget_one(now):
            return False  # every tracked address is busy: a new one is not read until one goes quiet
        tokens = BURST if kept is None else _refilled(*kept, now, RATE_PER_S, BURST)
        total = _refilled(*self._total, now, TOTAL_RATE_PER_S, TOTAL_BURST)
        admitted = tokens >= 1 and total >= 1
        if admitted:
            tokens, total = tokens - 1, total - 1
        self._buckets[host] = (tokens, now)
        self._total = (total, now)
        return admitted

    @property
    def tracked(self) -> int:
        """Addresses with a bucket now (at most MAX_TRACKED)."""
        return len(self._buckets)

    def count_refused(self) -> None:
        """An admitted datagram was a request, answered 403."""
        self.refused += 1
        self._minute[1] += 1

    def _forget_one(self, now: float) -> bool:
        """Drop the least recently heard address if its bucket has filled up again (nothing is lost then)."""
        host, (_, at) = next(iter(self._buckets.items()))
        if now - at < BURST / RATE_PER_S:
            return False
        del self._buckets[host]
        return True

    def summary(self, now: float) -> str | None:
        """The log line for the minute just over (a new one begins), or None while the minute runs or was quiet."""
        if self._since is None or now < self._since + SUMMARY_S:
            return None
        (datagrams, refused), addresses = self._minute, len(self._counts)
        top = ", ".join(f"{host} {count}" for host, count in self._counts.most_common(TOP))
        many = f"more than {addresses}" if self._uncounted else str(addresses)
        self._since, self._counts, self._uncounted, self._minute = None, Counter(), 0, [0, 0]
        return (f"sip-forbidden: dropped {datagrams} datagrams from {many} address{'es' if addresses != 1 else ''} "
                f"not in [line] sip_allow in the last minute (403 sent to {refused} of them; top: {top})")
