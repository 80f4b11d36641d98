"""The containers run the commands the tests run: every `spd-atlas` command of the Dockerfile
and docker-compose.yml is one the CLI accepts, and the compose fleet is the scaled mode."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from dashboard.cli import build_parser

REPO = Path(__file__).resolve().parents[1]


def container_commands() -> dict[str, list[str]]:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    commands = {
        f"compose {name}": service["command"]
        for name, service in compose["services"].items()
        if service.get("command", [""])[0] == "spd-atlas"
    }
    for number, line in enumerate((REPO / "Dockerfile").read_text().splitlines()):
        if found := re.fullmatch(r"CMD (\[.*\])", line.strip()):
            commands[f"Dockerfile line {number + 1}"] = json.loads(found[1])
    return commands


def test_every_container_command_is_a_cli_command() -> None:
    commands = container_commands()
    assert len(commands) >= 5  # serve, web jobs, GPU worker (and a CPU one), both images
    for where, command in commands.items():
        assert command[0] == "spd-atlas", where
        args = build_parser().parse_args(command[1:])
        assert args.command in ("serve", "worker"), where


def test_the_compose_fleet_is_the_scaled_mode() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    served = {tuple(service.get("command", [])[1:3]) for service in compose.values()}
    assert {("serve", "--host"), ("worker", "--queue")} <= served
    queues = {
        s["command"][-1] for s in compose.values() if s.get("command", [""])[1:2] == ["worker"]
    }
    assert {"web", "gpu", "harvest"} <= queues
    for name in ("web", "web-jobs", "gpu-worker"):
        environment = compose[name]["environment"]
        assert str(environment["REDIS_URL"]).startswith("redis://redis:"), name
    studies = [v for v in compose["web"]["volumes"] if str(v).endswith(":ro")]
    assert studies, "the study directory is mounted read-only"
