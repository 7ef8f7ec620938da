"""The object storage port and its adapters."""

from vodkit_shared.storage.factory import open_storage
from vodkit_shared.storage.port import ObjectNotFound, ObjectStorage, StorageUnavailable, check_key

__all__ = ["ObjectNotFound", "ObjectStorage", "StorageUnavailable", "check_key", "open_storage"]
