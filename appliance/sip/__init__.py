"""SIP with no I/O (after h11): messages and their header values, SDP offer/answer, and digest authentication."""
