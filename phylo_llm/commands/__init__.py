"""One module per ``phylo-llm`` subcommand; each defines ``register(subparsers)``."""
