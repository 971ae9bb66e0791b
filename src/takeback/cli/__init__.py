"""The ``takeback`` command line: thin Typer commands over the domain services."""
