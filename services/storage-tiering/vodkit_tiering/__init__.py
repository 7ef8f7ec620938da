"""vodkit tiering service. Moves objects hot → warm → cold by age and last access (issue 6)."""
