"""The `phylo-llm` subcommands of the extract package (`extract`, `simulate`, `demo`, `place`,
`build-atlas`), registered through the `phylo_llm.commands` entry points; each imports torch only
when it runs."""
