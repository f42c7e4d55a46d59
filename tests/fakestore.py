"""A test object store: ``fakestore://path`` in a local folder; a rename is a copy and a delete."""
from __future__ import annotations

import os
import posixpath
import shutil

from apache_beam.io.filesystem import FileMetadata
from apache_beam.io.localfilesystem import LocalFileSystem

SCHEME = "fakestore"
PREFIX = f"{SCHEME}://"


class FakeObjectStore(LocalFileSystem):
    """Beam finds filesystems by scheme among FileSystem's subclasses: defining this registers it.

    ``ROOT`` (set by a test) is the local folder that holds the objects.
    """

    ROOT: str | None = None

    @classmethod
    def scheme(cls):
        return SCHEME

    def _local(self, path: str) -> str:
        assert self.ROOT and path.startswith(PREFIX), path
        return os.path.join(self.ROOT, path[len(PREFIX):])

    def _remote(self, local: str) -> str:
        return PREFIX + os.path.relpath(local, self.ROOT)

    def join(self, basepath, *paths):
        return posixpath.join(basepath, *paths)

    def split(self, path):
        head, tail = posixpath.split(path)
        return head, tail

    def _url_dirname(self, url_or_path):
        return posixpath.dirname(url_or_path)

    def mkdirs(self, path):
        os.makedirs(self._local(path), exist_ok=True)

    def has_dirs(self):
        return False

    def _list(self, dir_or_prefix):
        local = self._local(dir_or_prefix)
        for folder, _, names in os.walk(local):
            for name in names:
                path = os.path.join(folder, name)
                yield FileMetadata(self._remote(path), os.path.getsize(path), os.path.getmtime(path))

    def create(self, path, *args, **kwargs):
        return super().create(self._local(path), *args, **kwargs)

    def open(self, path, *args, **kwargs):
        return super().open(self._local(path), *args, **kwargs)

    def copy(self, sources, destinations):
        for destination in destinations:
            os.makedirs(os.path.dirname(self._local(destination)), exist_ok=True)
        super().copy([self._local(p) for p in sources], [self._local(p) for p in destinations])

    def rename(self, sources, destinations):
        # Object stores have no rename: a copy, then a delete.
        self.copy(sources, destinations)
        self.delete(sources)

    def exists(self, path):
        return super().exists(self._local(path))

    def size(self, path):
        return super().size(self._local(path))

    def last_updated(self, path):
        return super().last_updated(self._local(path))

    def checksum(self, path):
        return super().checksum(self._local(path))

    def metadata(self, path):
        # Not LocalFileSystem.metadata: it calls back into this class with the local path.
        local = self._local(path)
        return FileMetadata(path, os.path.getsize(local), os.path.getmtime(local))

    def delete(self, paths):
        for path in paths:
            local = self._local(path)
            if os.path.isdir(local):
                shutil.rmtree(local)
            elif os.path.exists(local):
                os.remove(local)
