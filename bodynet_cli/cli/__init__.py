"""Command-line interface: ``app.py`` wires the commands, one module per command."""
