"""One router module per resource: campaigns, tokens, health."""
