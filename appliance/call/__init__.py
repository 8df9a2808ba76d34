"""A phone call: who speaks when (turn taking), and the session that runs the stages for one call."""
