"""Model backends: anything that maps prompts to responses (see :class:`base.Backend`)."""
