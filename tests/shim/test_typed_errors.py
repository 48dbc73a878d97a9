"""Errors out of the facade's public calls are typed iqm-async errors, never bare ValueError/RuntimeError."""

from __future__ import annotations

import pytest

from iqm_async.errors import ClientClosedError, IQMError, ValidationError
from iqm_async.server import RunningServer
from iqm_sync_shim import IQMProvider


def test_ids_that_are_not_uuids_are_refused_with_a_typed_error(server: RunningServer) -> None:
    with IQMProvider(server.url) as provider:
        backend = provider.get_backend()
        with pytest.raises(ValidationError, match="'job-123' is not a job id"):
            backend.retrieve_job("job-123")
        with pytest.raises(ValidationError, match="'abc' is not a calibration set id"):
            provider.get_backend(calibration_set_id="abc")
    assert [r for r in server.state.requests() if "job-123" in r.path or "abc" in r.path] == []


def test_a_closed_provider_says_so_with_a_typed_error(server: RunningServer) -> None:
    provider = IQMProvider(server.url)
    provider.close()
    with pytest.raises(ClientClosedError, match="closed") as caught:
        provider.get_backend()
    assert isinstance(caught.value, IQMError) and isinstance(caught.value, RuntimeError)
