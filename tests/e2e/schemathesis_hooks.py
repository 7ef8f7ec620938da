"""Loaded by schemathesis (SCHEMATHESIS_HOOKS): tus bodies are plain bytes under tus's own media type."""

import schemathesis

schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")
