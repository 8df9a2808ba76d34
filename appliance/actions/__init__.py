"""Actions: what the appliance promised on a call, validated, recorded, queued, and sent exactly once."""
