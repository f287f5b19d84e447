"""A file that contains one API key, replaced atomically so that no key is lost."""

from __future__ import annotations

import errno
import logging
import os
import secrets
from typing import Optional

KEY_FILE_MODE = 0o600
BACKUP_SUFFIX = ".bak"

logger = logging.getLogger(__name__)


class KeyFile:
    """A file that contains one API key and is replaced atomically.

    ``replace`` first writes the new key to a temporary file in the same
    directory (mode 0600) and syncs it to disk. It copies the old file to
    ``<path>.bak`` (mode 0600) and renames the temporary file over the old
    one with ``os.replace``. Then it syncs the directory, so that the rename
    itself is on disk. A reader sees either the old key or the new one,
    never a partial file. The copy is removed once the new file is on disk. It outlives a
    crash between those steps, and it also stays when the rename succeeded
    but the directory could not be synced.

    A symlink is followed, so the link stays and its target is replaced.
    """

    def __init__(self, path: str) -> None:
        self.path = os.path.realpath(path)
        self.directory = os.path.dirname(self.path)
        self.backup_path = self.path + BACKUP_SUFFIX
        #: The key that ``replace`` renamed into place, or None before that.
        self.replaced_with: Optional[str] = None

    def check_writable(self) -> None:
        """Create and remove a file next to the key file; raise OSError if that fails.

        A renewal revokes the old key, so ``renew`` checks this first rather
        than find out after the server has responded.
        """
        if os.path.isdir(self.path):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), self.path)

        probe_path = self._write_temporary_file(b"")
        os.unlink(probe_path)

    def replace(self, key: str) -> None:
        """Replace the key file with one that contains `key`; raise OSError if any step fails.

        On failure the temporary file is removed, and so is the backup unless
        the new file was already renamed into place.
        """
        temporary_path = self._write_temporary_file(key.encode("utf-8") + b"\n")
        backup_path = None
        try:
            backup_path = self._back_up()
            os.replace(temporary_path, self.path)
        except BaseException:
            _remove_quietly(temporary_path)
            if backup_path is not None:
                _remove_quietly(backup_path)
            raise

        self.replaced_with = key
        _fsync_directory(self.directory)

        # The new key is on disk, so the copy of the old file is no longer needed.
        if backup_path is not None:
            _remove_quietly(backup_path)

    def _back_up(self) -> Optional[str]:
        """Copy the current key file to the backup path; return that path, or None without a file."""
        try:
            with open(self.path, "rb") as current:
                content = current.read()
        except FileNotFoundError:
            return None

        temporary_path = self._write_temporary_file(content)
        try:
            os.replace(temporary_path, self.backup_path)
        except BaseException:
            _remove_quietly(temporary_path)
            raise
        return self.backup_path

    def _write_temporary_file(self, content: bytes) -> str:
        """Write `content` to a new file with mode 0600 next to the key file, synced to disk; return its path."""
        name = f".{os.path.basename(self.path)}.{secrets.token_hex(8)}.tmp"
        path = os.path.join(self.directory, name)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        descriptor = os.open(path, flags, KEY_FILE_MODE)
        try:
            with os.fdopen(descriptor, "wb") as temporary:
                # The umask may have cleared bits of the mode given to os.open.
                if hasattr(os, "fchmod"):
                    os.fchmod(temporary.fileno(), KEY_FILE_MODE)
                temporary.write(content)
                temporary.flush()
                os.fsync(temporary.fileno())
        except BaseException:
            _remove_quietly(path)
            raise
        return path


def _fsync_directory(directory: str) -> None:
    """Sync a directory, so that a rename in it survives a power failure."""
    if not hasattr(os, "O_DIRECTORY"):
        # Windows cannot open a directory; its renames need no directory sync.
        return

    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _remove_quietly(path: str) -> None:
    """Remove a file this command created; a failure only leaves a stray file behind, so it is logged."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        logger.warning("could not remove %s: %s", path, exc.strerror)
