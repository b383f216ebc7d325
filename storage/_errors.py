"""Errors of the storage package."""


class StorageError(Exception):
    """Base error of the storage package."""


class BlobNotFoundError(StorageError):
    """A blob named in the database is missing from the store."""


class StorageFullError(StorageError):
    """The disk is full; the partial write was removed."""


class BlobTooLargeError(StorageError):
    """The stream was longer than the allowed maximum; nothing was kept."""


class BlobDamagedError(StorageError):
    """A blob's bytes no longer hash to its name: the store altered or truncated them."""

    def __init__(self, sha256: str, actual: str, size: int) -> None:
        super().__init__(f"blob {sha256} is damaged: it hashes to {actual} ({size} bytes)")
        self.sha256 = sha256
        self.actual = actual
        self.size = size
