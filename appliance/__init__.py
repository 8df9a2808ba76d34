"""Offline voice AI phone-support appliance: answers the line, the knowledge base and the actions."""

__version__ = "0.1.0"
