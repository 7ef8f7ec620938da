"""vodkit cdn-purge service. Purges CDN caches of playlists and segments whose content changed (issue 6)."""
