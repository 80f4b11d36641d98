"""The operation table, read from the typed methods of InferenceService, agrees with the model
functions that compute each operation and with the time limits."""

from __future__ import annotations

import inspect
from typing import Any, get_type_hints

from dashboard.inference.service import OPERATIONS, InferenceService
from dashboard.settings import JOB_SECONDS


class Recording(InferenceService):
    """Records what each typed method asks its backend to run."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def call(self, study, operation, arguments):
        self.calls.append((operation, arguments))


def test_the_table_holds_every_typed_method() -> None:
    public = {
        name
        for name, member in vars(InferenceService).items()
        if inspect.isfunction(member) and not name.startswith("_") and name != "call"
    }
    assert set(OPERATIONS) == public
    assert OPERATIONS["probe"].parameters == ("text", "threshold")
    assert OPERATIONS["probe"].result.__name__ == "ProbeResult"


def test_each_method_runs_its_operation_with_every_argument() -> None:
    service = Recording()
    for name, operation in OPERATIONS.items():
        arguments = {parameter: object() for parameter in operation.parameters}
        getattr(service, name)(None, **arguments)
        assert service.calls[-1] == (name, arguments)


def test_defaults_are_passed_on() -> None:
    service = Recording()
    service.heldout_prompts(None)
    assert service.calls[-1] == ("heldout_prompts", {"count": 8, "characters": 240})


def test_each_operation_has_a_model_function_of_the_same_signature() -> None:
    from dashboard.inference import compute

    for name, operation in OPERATIONS.items():
        method = inspect.signature(getattr(InferenceService, name)).parameters
        function = inspect.signature(getattr(compute, name)).parameters
        assert tuple(function)[1:] == operation.parameters, name
        for parameter in operation.parameters:
            assert function[parameter].default == method[parameter].default, (name, parameter)
        assert get_type_hints(getattr(compute, name))["return"] is operation.result, name


def test_each_operation_has_a_time_limit() -> None:
    assert set(OPERATIONS) == set(JOB_SECONDS)
