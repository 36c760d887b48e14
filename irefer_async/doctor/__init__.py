"""The doctor: readiness checks of a configuration and an account, and schema drift.

`check_configuration` runs without a request; `probe_client` checks the network, the
credentials and every read endpoint through a client; `DriftRecorder` counts where the
API's answers differ from the models. What `irefer doctor` prints. A satellite of the core:
it uses only `irefer_async`'s public names.
"""

from __future__ import annotations

from ._drift import GUIDE_QUIRKS, MAX_ENTRIES, DriftEntry, DriftKind, DriftRecorder, redact_example
from ._probe import (
    CheckStatus,
    ProbeCheck,
    ProbeReport,
    check_configuration,
    check_network,
    probe_client,
)

__all__ = [
    "GUIDE_QUIRKS",
    "MAX_ENTRIES",
    "CheckStatus",
    "DriftEntry",
    "DriftKind",
    "DriftRecorder",
    "ProbeCheck",
    "ProbeReport",
    "check_configuration",
    "check_network",
    "probe_client",
    "redact_example",
]
