"""The metadata port and its adapters."""

from vodkit_shared.metadata.factory import open_metadata
from vodkit_shared.metadata.port import Collection, Document, DuplicateKey, MetadataStore

__all__ = ["Collection", "Document", "DuplicateKey", "MetadataStore", "open_metadata"]
