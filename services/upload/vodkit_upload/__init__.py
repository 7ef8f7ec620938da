"""vodkit upload service: chunked uploads and their assembly."""
