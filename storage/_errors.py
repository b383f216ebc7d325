"""Errors of the storage package."""


class StorageError(Exception):
    """Base error of the storage package."""


class BlobNotFoundError(StorageError):
    """A blob named in the database is missing from the store."""


class StorageFullError(StorageError):
    """The disk is full; the partial write was removed."""


class BlobTooLargeError(StorageError):
    """The stream was longer than the allowed maximum; nothing was kept."""
