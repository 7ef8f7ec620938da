"""vodkit packager: HLS playlists and segments from renditions, by stream copy."""
