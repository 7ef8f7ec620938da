"""The `vodkit` command."""
