"""Response chunks that are not bytes: a slice of a file, sent with sendfile by the server.

A `FileRegion` owns its file descriptor (a `dup` of the segment's), so a segment closed or deleted while the
response waits in the queue cannot pull the descriptor from under the send. The server closes it once sent.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field


@dataclass(slots=True)
class FileRegion:
    fd: int
    position: int
    size: int
    closed: bool = field(default=False)

    @classmethod
    def from_fd(cls, fd: int, position: int, size: int) -> FileRegion:
        return cls(os.dup(fd), position, size)

    def read(self) -> bytes:
        """The region's bytes (for TLS connections and tests, where sendfile does not apply)."""
        return os.pread(self.fd, self.size, self.position)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            os.close(self.fd)
