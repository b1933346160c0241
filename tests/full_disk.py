"""Run the ``nas`` CLI with a disk that fills up: used by tests/test_full_disk.py as a subprocess.

``python tests/full_disk.py WHAT N nas-args...``: after N successful writes of WHAT
(``journal``: appends to the Optuna journal; ``results``: the netCDF; ``html``: the plot),
the next write stores only part of its bytes, as a full disk does, and raises
``OSError(ENOSPC)``; every later write raises too.
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))


def _full(path: object) -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


def main() -> None:
    what, allowed, args = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    writes = {"count": 0}

    def spend(path: object) -> bool:
        writes["count"] += 1
        return writes["count"] > allowed

    if what == "journal":
        from optuna.storages.journal import JournalFileBackend

        append = JournalFileBackend.append_logs

        def append_logs(self, logs):
            if spend(self._file_path):
                with open(self._file_path, "ab") as handle:  # half a record reaches the disk
                    handle.write(b'{"op_code": 6, "worker_id": "x", "tri')
                raise _full(self._file_path)
            append(self, logs)

        JournalFileBackend.append_logs = append_logs
    else:
        import nas

        name = "save_dataset" if what == "results" else "write_html"
        original = getattr(nas, name)

        def failing(obj, path, *rest, **options):
            if spend(path):
                Path(path).write_bytes(b"\x89HDF\r\n" if what == "results" else b"<html>")
                raise _full(path)
            return original(obj, path, *rest, **options)

        setattr(nas, name, failing)
    from cli import main as cli_main

    cli_main(args, prog_name="nas")


if __name__ == "__main__":
    main()
