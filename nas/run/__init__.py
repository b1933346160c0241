"""Running a study: the driver loop on Dask, its storage, recovery after a crash, and progress.

One driver owns the Optuna study: it asks trials, submits each evaluation to Dask as a
pure function of its parameters, and tells the results; workers never touch the storage.
:func:`study_status` reads a study (running or not) for ``nas status``. :func:`ask_trial`,
:func:`tell_trial` and :class:`Heartbeat` are the driver's steps, for a driver loop of your own.

Example:
    >>> from nas.run import MAX_RETRY
    >>> MAX_RETRY
    3
"""

from nas._cluster import dask_client
from nas._storage_url import mask_credentials
from nas.run._driver import ask_trial, run_search, tell_trial
from nas.run._journal_file import JournalFileError, check_records, repair_torn_tail
from nas.run._progress import StudyProgress, study_progress
from nas.run._recovery import (
    GRACE_PERIOD_S,
    HEARTBEAT_INTERVAL_S,
    MAX_RETRY,
    Heartbeat,
    fail_orphaned_trials,
    trial_id_of,
)
from nas.run._status import StudyStatus, format_status, read_study, study_status
from nas.run._storage import SearchError, default_storage_path, driver_id, load_or_create_study, open_storage

__all__ = [
    "GRACE_PERIOD_S",
    "HEARTBEAT_INTERVAL_S",
    "JournalFileError",
    "Heartbeat",
    "MAX_RETRY",
    "SearchError",
    "StudyProgress",
    "StudyStatus",
    "ask_trial",
    "check_records",
    "dask_client",
    "default_storage_path",
    "driver_id",
    "fail_orphaned_trials",
    "format_status",
    "load_or_create_study",
    "mask_credentials",
    "open_storage",
    "read_study",
    "repair_torn_tail",
    "run_search",
    "study_progress",
    "study_status",
    "tell_trial",
    "trial_id_of",
]
