"""vodkit gateway: the public HTTP API, auth, status projection and playback delivery."""
