"""template.yaml after the SAM transform: lint-clean, free of dependency cycles, and with the promised properties."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from samtranslator.translator.transform import transform

from infrastructure.local.template import load_template

PARAMETERS = {"ApiKey": "k" * 24, "WebhookSecret": "s" * 24}


class _PolicyLoader:
    def load(self) -> dict[str, str]:
        return {name: f"arn:aws:iam::aws:policy/{name}" for name in
                ("AWSXrayWriteOnlyAccess", "AWSLambdaBasicExecutionRole", "AWSLambdaSQSQueueExecutionRole")}


@pytest.fixture(scope="module")
def transformed(monkeypatch_module: Any) -> dict[str, Any]:
    template = copy.deepcopy(load_template())
    for resource in template["Resources"].values():  # as sam package would, after sam build
        for uri in ("CodeUri", "ContentUri"):
            if uri in resource.get("Properties", {}):
                resource["Properties"][uri] = "s3://artifacts/code.zip"
        if resource["Type"] == "AWS::Serverless::Application":
            resource["Properties"]["Location"] = "https://artifacts.s3.amazonaws.com/compute.template"
    return transform(template, PARAMETERS, _PolicyLoader())


@pytest.fixture(scope="module")
def monkeypatch_module():
    patcher = pytest.MonkeyPatch()
    patcher.setenv("AWS_DEFAULT_REGION", "us-east-1")
    yield patcher
    patcher.undo()


def _references(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                found.add(value[0] if isinstance(value, list) else value.split(".")[0])
            elif key == "Fn::Sub":
                text = value if isinstance(value, str) else value[0]
                found |= {part.split("}")[0].split(".")[0] for part in text.split("${")[1:]}
                if isinstance(value, list):
                    found |= _references(value[1])
            else:
                found |= _references(value)
    elif isinstance(node, list):
        for item in node:
            found |= _references(item)
    return found


def test_transformed_template_has_no_dependency_cycle(transformed):
    resources = transformed["Resources"]
    graph = {}
    for name, resource in resources.items():
        depends = resource.get("DependsOn", [])
        depends = [depends] if isinstance(depends, str) else depends
        graph[name] = (_references(resource.get("Properties", {})) | set(depends)) & set(resources)
    visiting, done = set(), set()

    def visit(node: str, path: list[str]) -> None:
        if node in done:
            return
        assert node not in visiting, "dependency cycle: " + " -> ".join([*path, node])
        visiting.add(node)
        for child in graph[node]:
            visit(child, [*path, node])
        visiting.discard(node)
        done.add(node)

    for name in graph:
        visit(name, [])


@pytest.mark.slow  # a full lint
def test_transformed_template_passes_cfn_lint(transformed):
    from cfnlint.api import lint_all

    matches = [m for m in lint_all(json.dumps(transformed)) if m.rule.id[0] in "EW"]
    assert matches == [], "\n".join(str(m) for m in matches)


def test_template_declares_what_the_service_promises(transformed):
    resources = transformed["Resources"]
    bucket = resources["AudioBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert bucket["NotificationConfiguration"]["LambdaConfigurations"]  # S3 -> status function
    policy = resources["AudioBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert policy["Effect"] == "Deny" and policy["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert {r["Id"] for r in bucket["LifecycleConfiguration"]["Rules"]} >= {"ExpireOutputs", "ExpireRequests"}

    table = resources["JobsTable"]["Properties"]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert {i["IndexName"] for i in table["GlobalSecondaryIndexes"]} == {"owner-created", "queued-created"}
    assert resources["JobQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"] == 3

    functions = {n: r["Properties"] for n, r in resources.items() if r["Type"] == "AWS::Lambda::Function"}
    assert set(functions) == {"ApiFunction", "StatusFunction", "DeadLetterFunction", "ReconcileFunction"}
    assert all(f["Architectures"] == ["arm64"] and f["Runtime"] == "python3.11" for f in functions.values())
    schedules = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Events::Rule"]
    assert [s["ScheduleExpression"] for s in schedules] == ["rate(5 minutes)"]
    assert schedules[0]["Targets"][0]["Arn"] == {"Fn::GetAtt": ["ReconcileFunction", "Arn"]}
    alarms = {r["Properties"]["MetricName"] for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert {"ApproximateNumberOfMessagesVisible", "5XXError"} <= alarms
    assert "WorkerImageUri" in transformed["Parameters"] and "Stage" in transformed["Parameters"]
    nested = resources["GpuCompute"]
    assert nested["Type"] == "AWS::CloudFormation::Stack" and nested["Condition"] == "HasWorkerImage"


@pytest.mark.slow  # a full lint
def test_the_nested_compute_template_passes_cfn_lint_and_has_both_modes():
    from cfnlint.api import lint

    from infrastructure.local.template import TEMPLATE, load_template

    path = TEMPLATE.parent / "infrastructure" / "gpu" / "compute.yaml"
    matches = [m for m in lint(path.read_text(), regions=["us-east-1"]) if m.rule.id[0] in "EW"]
    assert matches == [], "\n".join(str(m) for m in matches)
    compute = load_template.__wrapped__(path)
    types = {r["Type"] for r in compute["Resources"].values()}
    assert {"AWS::ECS::Service", "AWS::ECS::CapacityProvider", "AWS::SageMaker::Endpoint",
            "AWS::CloudWatch::Dashboard"} <= types
    scaling = [r["Properties"] for r in compute["Resources"].values()
               if r["Type"] == "AWS::ApplicationAutoScaling::ScalableTarget"]
    assert all(s["MinCapacity"] == 0 for s in scaling) and len(scaling) == 2  # both scale to zero


def test_policies_are_scoped_to_the_stack_resources(transformed):
    for name, resource in transformed["Resources"].items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for policy in resource["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                assert not any(a.endswith(":*") or a == "*" for a in actions), (name, actions)
                assert statement.get("Resource") != "*" or all(a.startswith(("xray:", "sqs:")) for a in actions), name
