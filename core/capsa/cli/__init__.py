"""The command line: one typer module per command group, one error boundary in ``main``."""
