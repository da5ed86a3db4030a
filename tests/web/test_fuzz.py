"""Fuzz the explorer's API from its own OpenAPI schema (schemathesis): whatever a client sends,
valid by the schema or not, the answer is never a server error and documented answers match the
schema. A few examples per route and mode, derandomised: deterministic and quick.

The operations' Hypothesis strategies are drawn inside ordinary tests (rather than through
schemathesis' pytest plugin, whose lazy fixture loader does not work with pytest 9)."""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is a dev dependency")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from schemathesis.specs.openapi.checks import positive_data_acceptance  # noqa: E402

from stylegen.web.app import create_app  # noqa: E402
from tests.web.conftest import make_explorer  # noqa: E402

OPERATIONS = [
    ("/api/networks", "GET"),
    ("/api/networks/{network_id}", "GET"),
    ("/api/networks/{network_id}/image", "POST"),
    ("/api/networks/{network_id}/latent", "POST"),
    ("/api/networks/{network_id}/directions/{method}", "GET"),
    ("/api/networks/{network_id}/projections", "POST"),
    ("/api/projections/{job_id}", "GET"),
    ("/api/projections/{job_id}", "DELETE"),
    ("/api/networks/{network_id}/translate", "POST"),
]
# Only these have inputs a schema can make invalid (an id in the path is any string).
NEGATIVE = {
    op for op in OPERATIONS if op[0].endswith(("image", "latent", "}/{method}", "s", "translate"))
}
NEGATIVE -= {("/api/networks", "GET")}
EXAMPLES = 25


@pytest.fixture(scope="module")
def fuzzed_explorer(network_paths):
    """An explorer of its own: the projections fuzzing starts (schemathesis makes valid 1x1
    GIFs and PNGs) must not fill the queue that other tests use; cancelled at the end."""
    ex = make_explorer(network_paths)
    yield ex
    ex.shutdown()


@pytest.fixture(scope="module")
def web_schema(fuzzed_explorer):
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(fuzzed_explorer))


def test_the_fuzzed_operations_are_all_of_them(web_schema):
    listed = {(path, method.upper()) for path, methods in web_schema.items() for method in methods}
    assert listed == set(OPERATIONS)


@pytest.mark.parametrize(
    "path, method, mode",
    [(*op, "positive") for op in OPERATIONS] + [(*op, "negative") for op in sorted(NEGATIVE)],
)
def test_no_request_makes_a_server_error(web_schema, fuzzed_explorer, path, method, mode):
    operation = web_schema[path][method]
    strategy = operation.as_strategy(schemathesis.GenerationMode(mode))
    # Random strings never name a served network: mostly pick a real one, so that the bodies
    # reach the renderer, the projector and the translator.
    networks = st.sampled_from([*fuzzed_explorer.networks, "nope"])

    @given(case=strategy, network=networks)
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case, network: str) -> None:
        if "network_id" in (case.path_parameters or {}):
            case.path_parameters["network_id"] = network
        # Not `positive_data_acceptance`: whether a schema-valid request is acceptable depends
        # on the network (its classes, ws count, kind), which a static schema cannot say; those
        # are 422s with the valid range, tested in test_api.py.
        case.call_and_validate(excluded_checks=[positive_data_acceptance])

    fuzz()
