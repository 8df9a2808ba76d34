"""RTP media without I/O: packets (RFC 3550), a sender, a jitter buffer and keypad events (RFC 4733)."""
