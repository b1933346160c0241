"""Running a study: the driver loop on Dask, its storage, recovery after a crash, and progress.

One driver owns the Optuna study: it asks trials, submits each evaluation to Dask as a
pure function of its parameters, and tells the results; workers never touch the storage.
:func:`study_status` reads a study (running or not) for ``nas status``.

Example:
    >>> from nas.run import MAX_RETRY
    >>> MAX_RETRY
    3
"""

from nas._cluster import dask_client
from nas.run._runner import (
    MAX_RETRY,
    SearchError,
    StudyProgress,
    default_storage_path,
    driver_id,
    fail_orphaned_trials,
    load_or_create_study,
    open_storage,
    run_search,
    study_progress,
)
from nas.run._status import StudyStatus, format_status, read_study, study_status

__all__ = [
    "MAX_RETRY",
    "SearchError",
    "StudyProgress",
    "StudyStatus",
    "dask_client",
    "default_storage_path",
    "driver_id",
    "fail_orphaned_trials",
    "format_status",
    "load_or_create_study",
    "open_storage",
    "read_study",
    "run_search",
    "study_progress",
    "study_status",
]
