"""One home per command's pipeline: what a command does between its parsed options and its files."""
