"""The CI bootstrap program (a separate Pulumi project; see `__main__.py`)."""
