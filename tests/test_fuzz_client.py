"""Arbitrary JSON from the server, end to end through the real client: only ``IQMError`` comes out.

``tests/unit/test_models.py`` fuzzes the model parsers directly. Here the fuzzed bodies arrive over
(respx-mocked) HTTP and go through the client's public methods, the transport's retries, the job's
result assembly and Qiskit result building, for every response the client reads (E1 to E8) and for
error replies. The property: each call returns, or raises an :class:`~iqm_async.errors.IQMError`
subclass; never a ``KeyError``/``TypeError``/``IndexError``/numpy or Qiskit error, and never a hang.

Bodies are drawn two ways: any JSON value at all, and a valid body with one field replaced by any JSON
value or removed (which reaches deep into the parsers).
"""

from __future__ import annotations

import copy
import json
import math
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx
import pytest
import respx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iqm_async import AsyncIQMClient, PollPolicy, RetryPolicy
from iqm_async.errors import IQMError, MalformedResponseError
from iqm_async.models import CircuitJobDefinition

ROOT = "http://127.0.0.1:9"
API = ROOT + "/api/v1"
JOB = "5c0e1b52-9a4f-4f51-8d3e-0b8f4a1f0a77"
CAL = "26c5e70f-bea0-43af-bd37-6212ec7d04cb"
SHOTS = 3

# ------------------------------------------------------------------------------------- valid bodies

QCS = {"quantum_computers": [{"id": "cd4dd889-b88b-4370-ba01-eb8262ad9c53", "alias": "sim", "display_name": "Sim"}]}
DQA = {
    "calibration_set_id": CAL,
    "qubits": ["QB1", "QB2", "QB3"],
    "computational_resonators": [],
    "gates": {
        "prx": {
            "implementations": {"drag_gaussian": {"loci": [["QB1"], ["QB2"], ["QB3"]]}},
            "default_implementation": "drag_gaussian",
            "override_default_implementation": {},
        },
        "cz": {
            "implementations": {"tgss": {"loci": [["QB1", "QB2"], ["QB2", "QB3"]]}},
            "default_implementation": "tgss",
            "override_default_implementation": {},
        },
        "measure": {
            "implementations": {"constant": {"loci": [["QB1"], ["QB2"], ["QB3"]]}},
            "default_implementation": "constant",
            "override_default_implementation": {},
        },
    },
}
SQA = [
    {
        "dut_label": "M000",
        "qubits": ["QB1", "QB2", "QB3"],
        "computational_resonators": [],
        "connectivity": [["QB1", "QB2"], ["QB2", "QB3"]],
    }
]
PAYLOAD = {
    "circuits": [
        {
            "name": "two_regs",
            "instructions": [
                {"name": "prx", "locus": ["QB1"], "args": {"angle": math.pi, "phase": 0.0}, "implementation": None},
                {"name": "measure", "locus": ["QB1"], "args": {"key": "a_2_0_0"}, "implementation": None},
                {"name": "measure", "locus": ["QB2"], "args": {"key": "a_2_0_1"}, "implementation": None},
                {"name": "measure", "locus": ["QB3"], "args": {"key": "b_1_1_0"}, "implementation": None},
            ],
            "metadata": {"note": "x"},
        }
    ],
    "calibration_set_id": CAL,
    "shots": SHOTS,
    "heralding_mode": "none",
}
MEASUREMENTS = [{"a_2_0_0": [[1]] * SHOTS, "a_2_0_1": [[0]] * SHOTS, "b_1_1_0": [[0]] * SHOTS}]
COUNTS = [{"measurement_keys": ["a_2_0_0", "a_2_0_1", "b_1_1_0"], "counts": {"100": SHOTS}}]


def job_json(status: str = "completed") -> dict[str, Any]:
    return {
        "id": JOB,
        "type": "circuit",
        "status": status,
        "execution": {"progress": {"circuits": {"value": 1, "max_value": 1}}},
        "compilation": {"calibration_set_id": CAL},
        "messages": [{"source": "iqm-server", "message": "hello"}],
        "errors": [],
        "queue_position": None,
        "timeline": [{"source": "iqm-server", "status": "created", "timestamp": "2026-11-24T02:49:28.207477Z"}],
        "artifacts": [{"type": "measurements"}, {"type": "measurement_counts"}],
    }


# ------------------------------------------------------------------------------------- strategies

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(["", "QB1", JOB, CAL, "completed", "waiting", "a_2_0_0", "circuit", "measure", "prx"])
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


@st.composite
def mutated(draw: st.DrawFn, valid: Any) -> Any:
    """A copy of ``valid`` with one node replaced by any JSON value, or removed from its container."""
    body = copy.deepcopy(valid)
    paths: list[tuple[Any, ...]] = []

    def walk(node: Any, path: tuple[Any, ...]) -> None:
        paths.append(path)
        if isinstance(node, dict):
            for key, child in node.items():
                walk(child, (*path, key))
        elif isinstance(node, list):
            for index, child in enumerate(node):
                walk(child, (*path, index))

    walk(body, ())
    path = draw(st.sampled_from(paths))
    if not path:
        return draw(json_values)
    parent = body
    for step in path[:-1]:
        parent = parent[step]
    if draw(st.booleans()):
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(json_values)
    return body


def bodies(valid: Any) -> st.SearchStrategy[Any]:
    """Any JSON, or the valid body with one node changed."""
    return json_values | mutated(valid)


# ------------------------------------------------------------------------------------- harness


async def _no_sleep(seconds: float) -> None:
    await anyio.lowlevel.checkpoint()


def run_against(
    routes: dict[tuple[str, str], Any], call: Callable[[AsyncIQMClient], Awaitable[Any]], *, status: int = 200
) -> Any:
    """Serve ``routes`` ((method, path) → JSON body, ``status`` for the fuzzed one) and run ``call``.

    Returns the value or the IQMError raised; anything else propagates and fails the test.
    """

    async def main() -> Any:
        with respx.mock(assert_all_called=False) as mock:
            for (method, path), body in routes.items():
                if isinstance(body, httpx.Response):
                    mock.route(method=method, url=ROOT + path).mock(return_value=body)
                else:
                    mock.route(method=method, url=ROOT + path).mock(
                        return_value=httpx.Response(200, content=json.dumps(body).encode())
                    )
            retry = RetryPolicy(max_attempts=3, base_delay=0.0, max_delay=0.0)
            poll = PollPolicy(first_delay=0.0, max_interval=0.001)
            async with AsyncIQMClient(ROOT, sleep=_no_sleep, retry=retry, poll=poll) as client:
                with anyio.fail_after(10):
                    try:
                        return await call(client)
                    except IQMError as exc:
                        return exc

    with warnings.catch_warnings():
        # Warnings (an unknown status, zero heralded shots, a cancelled job) are legitimate output here.
        warnings.simplefilter("ignore")
        return anyio.run(main)


def fuzzed(body: Any, status: int = 200) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(body).encode())


BASE: dict[tuple[str, str], Any] = {
    ("GET", "/api/v1/quantum-computers"): QCS,
    ("GET", "/api/v1/calibration-sets/sim/default/dynamic-quantum-architecture"): DQA,
    ("GET", f"/api/v1/calibration-sets/sim/{CAL}/dynamic-quantum-architecture"): DQA,
    ("GET", "/api/v1/quantum-computers/sim/artifacts/static-quantum-architectures"): SQA,
    ("GET", f"/api/v1/jobs/{JOB}"): job_json(),
    ("GET", f"/api/v1/jobs/{JOB}/payload"): PAYLOAD,
    ("GET", f"/api/v1/jobs/{JOB}/artifacts/measurements"): MEASUREMENTS,
    ("GET", f"/api/v1/jobs/{JOB}/artifacts/measurement_counts"): COUNTS,
    ("POST", "/api/v1/jobs/sim/circuit"): job_json("waiting"),
    ("POST", f"/api/v1/jobs/{JOB}/cancel"): {},
}


def with_route(method: str, path: str, body: Any, status: int = 200) -> dict[tuple[str, str], Any]:
    routes = dict(BASE)
    routes[method, path] = fuzzed(body, status)
    return routes


def typed_or_value(outcome: Any) -> None:
    """The property: a value, or an IQMError (run_against lets anything else propagate)."""
    assert not isinstance(outcome, BaseException) or isinstance(outcome, IQMError)


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _definition() -> CircuitJobDefinition:
    return CircuitJobDefinition.from_json(PAYLOAD)


def _bell() -> Any:
    from qiskit import QuantumCircuit

    qc = QuantumCircuit(2, 2, name="bell")
    qc.r(math.pi / 2, math.pi / 2, 0)
    qc.cz(0, 1)
    qc.measure([0, 1], [0, 1])
    return qc


async def _everything_about_a_job(client: AsyncIQMClient) -> Any:
    job = client.job(JOB)
    await job.status_async()
    await job.queue_position_async()
    await job.error_message_async()
    return await job.result_async(timeout_seconds=2)


# ------------------------------------------------------------------------------------- the properties


def test_the_valid_bodies_give_the_right_result() -> None:
    """The harness itself: with every body valid, the job's result is the one the artifact says."""
    result = run_against(BASE, _everything_about_a_job)
    assert not isinstance(result, BaseException), result
    assert result.get_counts() == {"0 01": SHOTS}


@FUZZ
@given(body=bodies(QCS))
def test_e1_quantum_computers(body: Any) -> None:
    typed_or_value(run_against(with_route("GET", "/api/v1/quantum-computers", body), lambda c: c.quantum_computer()))


@FUZZ
@given(body=bodies(DQA))
def test_e2_dynamic_architecture(body: Any) -> None:
    path = "/api/v1/calibration-sets/sim/default/dynamic-quantum-architecture"
    typed_or_value(run_against(with_route("GET", path, body), lambda c: c.dynamic_architecture()))


@FUZZ
@given(body=bodies(DQA))
def test_e2_then_submit_validates_against_whatever_came(body: Any) -> None:
    path = "/api/v1/calibration-sets/sim/default/dynamic-quantum-architecture"
    typed_or_value(run_against(with_route("GET", path, body), lambda c: c.submit(_bell(), shots=SHOTS)))


@FUZZ
@given(body=bodies(SQA))
def test_e3_static_architecture(body: Any) -> None:
    path = "/api/v1/quantum-computers/sim/artifacts/static-quantum-architectures"
    typed_or_value(run_against(with_route("GET", path, body), lambda c: c.static_architecture()))


@FUZZ
@given(body=bodies(job_json("waiting")))
def test_e4_submit_reply(body: Any) -> None:
    outcome = run_against(
        with_route("POST", "/api/v1/jobs/sim/circuit", body), lambda c: c.submit_definition(_definition())
    )
    typed_or_value(outcome)


@FUZZ
@given(body=bodies(job_json()))
def test_e5_job_data_through_every_job_method(body: Any) -> None:
    typed_or_value(run_against(with_route("GET", f"/api/v1/jobs/{JOB}", body), _everything_about_a_job))


@FUZZ
@given(body=bodies(PAYLOAD))
def test_e6_payload_of_a_reattached_job(body: Any) -> None:
    typed_or_value(run_against(with_route("GET", f"/api/v1/jobs/{JOB}/payload", body), _everything_about_a_job))


@FUZZ
@given(body=bodies(MEASUREMENTS))
def test_e7_measurements_into_a_qiskit_result(body: Any) -> None:
    path = f"/api/v1/jobs/{JOB}/artifacts/measurements"
    typed_or_value(run_against(with_route("GET", path, body), _everything_about_a_job))


@FUZZ
@given(body=bodies(COUNTS))
def test_e8_measurement_counts(body: Any) -> None:
    path = f"/api/v1/jobs/{JOB}/artifacts/measurement_counts"
    typed_or_value(run_against(with_route("GET", path, body), lambda c: c.measurement_counts(JOB)))


@FUZZ
@given(
    status=st.integers(min_value=300, max_value=599),
    body=json_values
    | st.fixed_dictionaries({"message": json_values, "error_code": json_values, "source": json_values}),
    retry_after=st.none() | st.text(max_size=30) | st.integers(-5, 10**6).map(str),
)
def test_error_replies_with_any_body_and_retry_after(status: int, body: Any, retry_after: str | None) -> None:
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    try:
        response = httpx.Response(status, content=json.dumps(body).encode(), headers=headers)
    except (UnicodeEncodeError, ValueError):  # not a header value httpx can send at all
        return
    routes = dict(BASE)
    routes["GET", f"/api/v1/jobs/{JOB}"] = response
    outcome = run_against(routes, lambda c: c.job(JOB).status_async())
    assert isinstance(outcome, IQMError), f"HTTP {status} did not raise: {outcome!r}"


@FUZZ
@given(body=st.binary(max_size=64))
def test_bodies_that_are_not_json_at_all(body: bytes) -> None:
    routes = dict(BASE)
    routes["GET", f"/api/v1/jobs/{JOB}/artifacts/measurements"] = httpx.Response(200, content=body)
    routes["GET", f"/api/v1/jobs/{JOB}"] = httpx.Response(200, content=body)
    typed_or_value(run_against(routes, _everything_about_a_job))


# ------------------------------------------------------------------------------------- wrong results


@pytest.mark.parametrize(
    "measurements",
    [
        pytest.param([{"a_2_0_0": [[1]] * SHOTS, "b_1_1_0": [[0]] * SHOTS}], id="one key missing"),
        pytest.param([{}], id="every key missing"),
        pytest.param([{**MEASUREMENTS[0], "z_1_2_0": [[1]] * SHOTS}], id="a key the circuit does not measure"),
    ],
)
def test_measurements_that_do_not_match_the_circuit_are_refused(measurements: list[dict[str, Any]]) -> None:
    """A result must never be built from an artifact that lacks (or adds) measurement keys: that is a wrong
    result delivered as a right one, because unmeasured bits read as 0."""
    outcome = run_against(
        with_route("GET", f"/api/v1/jobs/{JOB}/artifacts/measurements", measurements), _everything_about_a_job
    )
    assert isinstance(outcome, MalformedResponseError), f"built a result anyway: {outcome!r}"
    assert JOB in str(outcome)
