"""vodkit transcoder: one source, one ffmpeg, every rung of the ladder."""
