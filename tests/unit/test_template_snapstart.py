"""template.yaml: the API function runs with Lambda SnapStart, and API Gateway invokes the snapshotted versions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infrastructure.local.template import load_template
from tests.unit.test_template import _sam_transform


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        transformed: dict[str, Any] = _sam_transform(load_template())["Resources"]
        return transformed


def test_the_api_function_publishes_snapstart_versions_behind_the_live_alias(resources):
    source = load_template()["Resources"]["ApiFunction"]["Properties"]
    assert source["AutoPublishAlias"] == "live" and source["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    assert resources["ApiFunction"]["Properties"]["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    alias = resources["ApiFunctionAliaslive"]
    assert alias["Type"] == "AWS::Lambda::Alias" and alias["Properties"]["Name"] == "live"
    version = alias["Properties"]["FunctionVersion"]["Fn::GetAtt"][0]
    assert resources[version]["Type"] == "AWS::Lambda::Version"


def test_api_gateway_invokes_the_alias_not_the_unpublished_function(resources):
    permissions = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::Permission"
                   and r["Properties"]["Principal"] == "apigateway.amazonaws.com"]
    assert permissions and all(p["FunctionName"] == {"Ref": "ApiFunctionAliaslive"} for p in permissions)
    integrations = json.dumps(resources["Api"]["Properties"]["Body"])
    assert "functions/${ApiFunctionAliaslive}/invocations" in integrations and "ApiFunction.Arn" not in integrations
