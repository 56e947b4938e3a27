"""Read ``template.yaml`` (CloudFormation short tags included) so the local stack builds what it declares."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """A YAML loader that turns ``!Ref x`` into ``{"Ref": "x"}`` and ``!Sub s`` into ``{"Fn::Sub": "s"}``."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _tag)


@cache
def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """The parsed template at ``path``, parsed once per path and shared: read it, never change it."""
    with path.open() as handle:
        loaded: dict[str, Any] = yaml.load(handle, Loader=_CfnLoader)
    return loaded


def resource(logical_id: str) -> dict[str, Any]:
    """Properties of one resource of the template."""
    properties: dict[str, Any] = load_template()["Resources"][logical_id].get("Properties", {})
    return properties


def s3_event_filters(function_id: str) -> list[dict[str, Any]]:
    """The S3 events (``Events`` + ``Filter``) a function of the template subscribes to."""
    events = resource(function_id).get("Events", {})
    return [e["Properties"] for e in events.values() if e["Type"] == "S3"]


def s3_key_rules(function_id: str) -> list[dict[str, str]]:
    """The key filters of a function's S3 events, one ``{"prefix": ..., "suffix": ...}`` per event."""
    return [{rule["Name"].lower(): rule["Value"] for rule in event.get("Filter", {}).get("S3Key", {}).get("Rules", [])}
            for event in s3_event_filters(function_id)]


def key_matches(rules: list[dict[str, str]], key: str) -> bool:
    """Whether ``key`` matches one of ``rules`` (``s3_key_rules``), as S3's notification filter would."""
    return any(key.startswith(rule.get("prefix", "")) and key.endswith(rule.get("suffix", "")) for rule in rules)
