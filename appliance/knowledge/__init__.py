"""The company's knowledge: documents cut into passages, embedded, and found again by meaning and words."""
