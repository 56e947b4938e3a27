"""template.yaml (after the SAM transform) and infrastructure/gpu/compute.yaml: lint-clean, free of dependency cycles,
and with the properties the service relies on that checkov does not check (scripts/test.sh runs checkov itself)."""

from __future__ import annotations

import copy
import fnmatch
import json
import re
from typing import Any

import pytest
from samtranslator.translator.transform import transform

from infrastructure.local.template import TEMPLATE, load_template
from shared import keys
from shared.store import ACTIVE_INDEX, OWNER_INDEX

PARAMETERS: dict[str, str] = {}


class _PolicyLoader:
    def load(self) -> dict[str, str]:
        return {name: f"arn:aws:iam::aws:policy/{name}" for name in
                ("AWSXrayWriteOnlyAccess", "AWSLambdaBasicExecutionRole", "AWSLambdaSQSQueueExecutionRole")}


def _sam_transform(source: dict[str, Any]) -> dict[str, Any]:
    """``source`` as CloudFormation receives it: packaged (code in S3), then through the SAM transform."""
    template = copy.deepcopy(source)
    for resource in template["Resources"].values():  # as sam package would, after sam build
        for uri in ("CodeUri", "ContentUri"):
            if uri in resource.get("Properties", {}):
                resource["Properties"][uri] = "s3://artifacts/code.zip"
        if resource["Type"] == "AWS::Serverless::Application":
            resource["Properties"]["Location"] = "https://artifacts.s3.amazonaws.com/compute.template"
    transformed: dict[str, Any] = transform(template, PARAMETERS, _PolicyLoader())
    return transformed


@pytest.fixture(scope="module")
def transformed(monkeypatch_module: Any) -> dict[str, Any]:
    return _sam_transform(load_template())


@pytest.fixture(scope="module")
def transformed_compute(monkeypatch_module: Any) -> dict[str, Any]:
    return _sam_transform(load_template(COMPUTE))


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
    assert bucket["NotificationConfiguration"]["LambdaConfigurations"]  # S3 -> status function, upload check
    policy = resources["AudioBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert policy["Effect"] == "Deny" and policy["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert {r["Id"] for r in bucket["LifecycleConfiguration"]["Rules"]} >= {"ExpireOutputs", "ExpireRequests"}

    table = resources["JobsTable"]["Properties"]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    indexes = {i["IndexName"]: i for i in table["GlobalSecondaryIndexes"]}
    assert set(indexes) == {OWNER_INDEX, ACTIVE_INDEX}  # the names the job store queries
    assert [k["AttributeName"] for k in indexes[ACTIVE_INDEX]["KeySchema"]] == ["queue_state", "created_at"]
    assert indexes[ACTIVE_INDEX]["Projection"] == {
        "ProjectionType": "INCLUDE",
        "NonKeyAttributes": ["enqueued_at", "lease_until", "started_at", "attempts", "completed_at"]}
    assert resources["JobQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"] == 3

    functions = {n: r["Properties"] for n, r in resources.items() if r["Type"] == "AWS::Lambda::Function"}
    assert set(functions) == {"ApiFunction", "StatusFunction", "DeadLetterFunction", "ReconcileFunction",
                              "WebhookFunction", "UploadCheckFunction"}
    # the layer is built for the runtime's Python and glibc (manylinux_2_28 wheels need Amazon Linux 2023)
    layer_python = re.search(r"^LAMBDA_PYTHON := (\S+)$", (ROOT / "Makefile").read_text(), re.M)
    assert layer_python is not None and layer_python[1] == "3.12"
    assert all(f["Architectures"] == ["arm64"] and f["Runtime"] == f"python{layer_python[1]}"
               for f in functions.values())
    assert all(f["TracingConfig"] == {"Mode": "Active"} for f in functions.values())
    schedules = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Scheduler::Schedule"]
    assert [s["ScheduleExpression"] for s in schedules] == ["rate(5 minutes)"]
    assert schedules[0]["Target"]["Arn"] == {"Fn::GetAtt": ["ReconcileFunction", "Arn"]}
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
    compute = load_template(path)
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


# ---- what checkov does not check: the properties below are the service's own decisions ---------------------------
ROOT = TEMPLATE.parent
COMPUTE = ROOT / "infrastructure" / "gpu" / "compute.yaml"


@pytest.fixture(scope="module")
def compute() -> dict[str, Any]:
    return load_template(COMPUTE)


def _functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: r for n, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}


def _statements(function: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for policy in function["Properties"].get("Policies", []) for s in policy["Statement"]]


def _allowed(function: dict[str, Any], action: str) -> list[Any]:
    """The resources ``function``'s own policies allow ``action`` on."""
    found: list[Any] = []
    for statement in _statements(function):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if action in actions:
            found += statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
    return found


def _bucket_arn(suffix: str = "") -> dict[str, str]:
    return {"Fn::Sub": "arn:${AWS::Partition}:s3:::${BucketNamePrefix}-${Stage}-${AWS::AccountId}-${AWS::Region}"
            + suffix}


def _evaluate(node: Any, parameters: dict[str, str]) -> Any:
    """CloudFormation's Ref, Fn::Split, Fn::Select and Fn::Sub over ``parameters`` (enough for an ARN)."""
    if isinstance(node, list):
        return [_evaluate(item, parameters) for item in node]
    if not isinstance(node, dict):
        return node
    ((function, argument),) = node.items()
    if function == "Ref":
        return parameters[argument]
    if function == "Fn::Split":
        return _evaluate(argument[1], parameters).split(argument[0])
    if function == "Fn::Select":
        return _evaluate(argument[1], parameters)[int(argument[0])]
    if function == "Fn::Sub":
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        values = {**parameters, **{k: _evaluate(v, parameters) for k, v in variables.items()}}
        for name, value in values.items():
            text = text.replace("${" + name + "}", str(value))
        return text
    raise AssertionError(f"not evaluated here: {function}")


def test_every_function_logs_to_a_log_group_of_the_stack_with_a_retention(compute):
    for template in (load_template(), compute):
        groups = {r["Properties"]["LogGroupName"]["Fn::Sub"]: r for r in template["Resources"].values()
                  if r["Type"] == "AWS::Logs::LogGroup" and isinstance(r["Properties"]["LogGroupName"], dict)}
        for name, function in _functions(template).items():
            group = groups.get(f"/aws/lambda/${{{name}}}")
            assert group is not None, f"{name} has no /aws/lambda log group of its own"
            assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
            assert group.get("Condition") == function.get("Condition"), name


def test_each_function_and_layer_is_built_by_the_makefile_and_each_handler_module_exists(compute):
    targets = set(re.findall(r"build-(\w+)", (ROOT / "Makefile").read_text()))
    for template, base in ((load_template(), ROOT), (compute, COMPUTE.parent)):
        built = {n: r for n, r in template["Resources"].items()
                 if r["Type"] in ("AWS::Serverless::Function", "AWS::Serverless::LayerVersion")}
        for name, resource in built.items():
            assert resource["Metadata"]["BuildMethod"] == "makefile" and name in targets, name
            uri = resource["Properties"].get("CodeUri") or resource["Properties"]["ContentUri"]
            assert (base / uri).resolve() == ROOT, name  # the folder of the Makefile
        for function in _functions(template).values():
            module = function["Properties"]["Handler"].rsplit(".", 1)[0]
            assert (ROOT / (module.replace(".", "/") + ".py")).is_file(), function["Properties"]["Handler"]


def test_s3_events_that_keep_failing_reach_an_alarmed_queue(transformed):
    resources = transformed["Resources"]
    configs = {r["Properties"]["FunctionName"]["Ref"]: r["Properties"] for r in resources.values()
               if r["Type"] == "AWS::Lambda::EventInvokeConfig"}
    assert set(configs) == {"StatusFunction", "UploadCheckFunction"}  # the functions S3 invokes asynchronously
    for config in configs.values():
        assert config["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["AsyncFailureQueue", "Arn"]}
    alarmed = [r["Properties"]["Dimensions"][0]["Value"] for r in resources.values()
               if r["Type"] == "AWS::CloudWatch::Alarm" and r["Properties"]["Namespace"] == "AWS/SQS"]
    assert {"Fn::GetAtt": ["AsyncFailureQueue", "QueueName"]} in alarmed
    assert {"Fn::GetAtt": ["WebhookDeadLetterQueue", "QueueName"]} in alarmed
    assert {"Fn::GetAtt": ["DeadLetterQueue", "QueueName"]} in alarmed


def test_final_jobs_reach_the_webhook_function_through_its_queue(transformed):
    resources = transformed["Resources"]
    template = load_template()["Resources"]
    queue = resources["WebhookQueue"]["Properties"]
    assert queue["RedrivePolicy"] == {"deadLetterTargetArn": {"Fn::GetAtt": ["WebhookDeadLetterQueue", "Arn"]},
                                      "maxReceiveCount": 8}
    function = resources["WebhookFunction"]["Properties"]
    assert function["Handler"] == "functions.status.webhook.handler"
    assert function["Timeout"] < queue["VisibilityTimeout"] == 60  # Lambda requires the queue to outwait a call
    variables = function["Environment"]["Variables"]
    assert {"WEBHOOK_SECRET_ID", "TABLE_NAME", "WEBHOOK_QUEUE_URL"} <= set(variables)
    assert variables["WEBHOOK_SECRET_ID"] == {"Ref": "WebhookSigningSecret"}  # the secret's ARN: where it lives
    mapping = next(r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::EventSourceMapping"
                   and r["Properties"]["EventSourceArn"] == {"Fn::GetAtt": ["WebhookQueue", "Arn"]})
    assert mapping["FunctionName"] == {"Ref": "WebhookFunction"} and mapping["BatchSize"] == 10
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert _allowed(template["WebhookFunction"], "sqs:ChangeMessageVisibility") == [
        {"Fn::GetAtt": ["WebhookQueue", "Arn"]}]  # its growing back-off
    for sender in ("StatusFunction", "ReconcileFunction"):
        variables = template[sender]["Properties"]["Environment"]["Variables"]
        assert variables["WEBHOOK_QUEUE_URL"] == {"Ref": "WebhookQueue"}, sender
        assert {"Fn::GetAtt": ["WebhookQueue", "Arn"]} in _allowed(template[sender], "sqs:SendMessage"), sender
    # only the webhook function knows where the signing secret is (and only it may read it: see below)
    holders = [n for n, f in _functions(load_template()).items()
               if "WEBHOOK_SECRET_ID" in f["Properties"].get("Environment", {}).get("Variables", {})]
    assert holders == ["WebhookFunction"]
    assert "WEBHOOK_SECRET_ID" not in load_template()["Globals"]["Function"]["Environment"]["Variables"]


def test_uploads_are_checked_and_refusals_readable_by_the_api():
    template = load_template()["Resources"]
    check = template["UploadCheckFunction"]
    assert check["Properties"]["Handler"] == "functions.status.upload_check.handler"
    events = [e["Properties"] for e in check["Properties"]["Events"].values()]
    assert events == [{"Bucket": {"Ref": "AudioBucket"}, "Events": "s3:ObjectCreated:*",
                       "Filter": {"S3Key": {"Rules": [{"Name": "prefix", "Value": keys.INPUTS}]}}}]
    inputs, rejections = _bucket_arn(f"/{keys.INPUTS}*"), _bucket_arn(f"/{keys.REJECTIONS}*")
    assert _allowed(check, "s3:GetObject") == [inputs] and _allowed(check, "s3:DeleteObject") == [inputs]
    assert _allowed(check, "s3:PutObject") == [rejections]
    assert rejections in _allowed(template["ApiFunction"], "s3:GetObject")
    assert rejections not in _allowed(template["ApiFunction"], "s3:PutObject")


def test_functions_that_look_for_absent_keys_get_404_not_403(compute):
    """S3 answers a GetObject/HeadObject of a missing key with 403 unless the caller may list the bucket; each of these
    reads keys that may not exist (rejection records, markers, outputs a manifest lists, a deleted upload)."""
    template = load_template()["Resources"]
    for name in ("ApiFunction", "StatusFunction", "ReconcileFunction", "UploadCheckFunction"):
        assert _allowed(template[name], "s3:ListBucket") == [_bucket_arn()], name
    worker = compute["Resources"]["WorkerAccessPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert any(s["Action"] == "s3:ListBucket" and s["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:s3:::${"
                                                                               "BucketName}"} for s in worker)


def test_the_worker_may_read_every_key_it_reads_and_write_every_key_it_writes(compute):
    """moto enforces no IAM: this is the only check that a deployed worker is allowed what the code does."""
    statements = compute["Resources"]["WorkerAccessPolicy"]["Properties"]["PolicyDocument"]["Statement"]

    def allowed(action: str) -> list[str]:
        return [resource["Fn::Sub"].removeprefix("arn:${AWS::Partition}:s3:::${BucketName}/")
                for s in statements if s["Action"] == action for resource in s["Resource"]]

    job = "0f0f0f0f-0000-4000-8000-000000000001"
    reads = [keys.request_key(job), keys.input_key("owner", "upload", "wav"), keys.manifest_key(job),
             keys.sagemaker_input_key(job)]
    writes = [keys.output_key(job, 0, "mp3"), keys.manifest_key(job), keys.failure_key(job)]
    for action, used in (("s3:GetObject", reads), ("s3:PutObject", writes)):
        for key in used:
            assert any(fnmatch.fnmatchcase(key, pattern) for pattern in allowed(action)), (action, key)


def test_the_reconciler_has_its_settings_and_only_the_access_it_needs():
    template = load_template()
    function = template["Resources"]["ReconcileFunction"]
    variables = function["Properties"]["Environment"]["Variables"]
    assert {"QUEUE_URL", "TABLE_NAME", "BUCKET_NAME"} <= set(template["Globals"]["Function"]["Environment"]
                                                             ["Variables"])
    assert variables["MAX_RUN_S"] == {"Ref": "MaxRunSeconds"}
    assert variables["STALE_AFTER_S"] == {"Ref": "StaleAfterSeconds"}
    assert variables["MAX_QUEUED_S"] == {"Ref": "MaxQueuedSeconds"}
    # the dead-letter consumer judges "between attempts" by the same limits
    dead_letter = template["Resources"]["DeadLetterFunction"]["Properties"]["Environment"]["Variables"]
    assert {k: dead_letter[k] for k in ("STALE_AFTER_S", "MAX_ATTEMPTS")} == {
        k: variables[k] for k in ("STALE_AFTER_S", "MAX_ATTEMPTS")}
    # only where no SQS message waits for the job (SageMaker's dispatcher deleted it) is a queued job sent again
    assert variables["RESEND_QUEUED_AFTER_S"] == {"Fn::If": ["SageMakerMode", "7200", "0"]}
    assert template["Conditions"]["SageMakerMode"] == {"Fn::Equals": [{"Ref": "ComputeMode"}, "sagemaker"]}
    queue = template["Resources"]["JobQueue"]["Properties"]
    assert int(variables["MAX_ATTEMPTS"]) == queue["RedrivePolicy"]["maxReceiveCount"]  # one attempt per delivery
    assert template["Parameters"]["MaxQueuedSeconds"]["MaxValue"] <= queue["MessageRetentionPeriod"]
    defaults = {name: template["Parameters"][name]["Default"] for name in
                ("MaxRunSeconds", "StaleAfterSeconds", "MaxQueuedSeconds", "WorkerMemoryMiB")}
    assert defaults == {"MaxRunSeconds": 1800, "StaleAfterSeconds": 900, "MaxQueuedSeconds": 172800,
                        "WorkerMemoryMiB": 14336}  # decisions.md
    assert _allowed(function, "dynamodb:Query") == [{"Fn::Sub": f"${{JobsTable.Arn}}/index/{ACTIVE_INDEX}"}]
    assert _allowed(function, "sqs:SendMessage") == [{"Fn::GetAtt": ["JobQueue", "Arn"]},
                                                     {"Fn::GetAtt": ["WebhookQueue", "Arn"]}]
    assert _allowed(function, "s3:PutObject") == [_bucket_arn(f"/{keys.FAILURES}*")]
    assert function["Properties"]["ReservedConcurrentExecutions"] == 1  # passes never overlap
    assert [e["Type"] for e in function["Properties"]["Events"].values()] == ["ScheduleV2"]


def test_every_prefix_of_the_bucket_expires_and_so_do_old_versions():
    bucket = load_template()["Resources"]["AudioBucket"]["Properties"]
    rules = bucket["LifecycleConfiguration"]["Rules"]
    expiring = {r["Prefix"] for r in rules if r["Status"] == "Enabled" and "ExpirationInDays" in r}
    prefixes = {value for name, value in vars(keys).items() if name.isupper() and isinstance(value, str)
                and value.endswith("/")}
    assert prefixes >= {"requests/", "inputs/", "rejections/", "sagemaker-inputs/", "sagemaker-outputs/"}
    assert expiring == prefixes  # shared/keys.py lists every prefix the service writes
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    versions = [r for r in rules if "NoncurrentVersionExpiration" in r]
    assert len(versions) == 1 and "Prefix" not in versions[0] and versions[0]["ExpiredObjectDeleteMarker"] is True


def test_the_worker_reaches_no_instance_credentials_and_its_task_has_two_roles(compute):
    resources = compute["Resources"]
    options = resources["LaunchTemplate"]["Properties"]["LaunchTemplateData"]["MetadataOptions"]
    assert options["HttpTokens"] == "required" and options["HttpPutResponseHopLimit"] == 1  # bridge = one more hop
    managed = [m["Fn::Sub"] for m in resources["InstanceRole"]["Properties"]["ManagedPolicyArns"]]
    assert managed == ["arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"]
    task = resources["TaskDefinition"]["Properties"]
    assert task["TaskRoleArn"] == {"Fn::GetAtt": ["TaskRole", "Arn"]}
    assert task["ExecutionRoleArn"] == {"Fn::GetAtt": ["ExecutionRole", "Arn"]}
    roles = {n: r["Properties"] for n, r in resources.items() if r["Type"] == "AWS::IAM::Role"}
    for name in ("TaskRole", "ExecutionRole", "SageMakerRole"):
        for policy in roles[name].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                if statement["Resource"] == "*":  # only what has no resource type, or is bounded by a condition
                    assert actions in (["ecr:GetAuthorizationToken"], ["cloudwatch:PutMetricData"]), (name, actions)
                    assert actions == ["ecr:GetAuthorizationToken"] or "Condition" in statement, name
    assert roles["TaskRole"]["ManagedPolicyArns"] == [{"Ref": "WorkerAccessPolicy"}]
    assert roles["SageMakerRole"]["ManagedPolicyArns"] == [{"Ref": "WorkerAccessPolicy"}]
    assert "ManagedPolicyArns" not in roles["ExecutionRole"]  # no data access to start a task


@pytest.mark.parametrize(("image", "repository"), [
    ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/diffrhythm-worker:v1", "diffrhythm-worker"),
    ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/worker@sha256:" + "a" * 64, "team/worker"),
])
def test_image_pulls_are_scoped_to_the_worker_image_repository(compute, image, repository):
    resources = compute["Resources"]
    assert re.match(compute["Parameters"]["WorkerImageUri"]["AllowedPattern"], image)
    assert re.match(load_template()["Parameters"]["WorkerImageUri"]["AllowedPattern"], image)
    for role in ("ExecutionRole", "SageMakerRole"):
        statements = resources[role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        pull = next(s for s in statements if "ecr:BatchGetImage" in s["Action"])
        arn = _evaluate(pull["Resource"], {"WorkerImageUri": image, "AWS::Partition": "aws"})
        assert arn == f"arn:aws:ecr:eu-west-1:123456789012:repository/{repository}", role


def test_the_ecs_container_has_the_images_health_check_and_a_hard_memory_limit(compute):
    container = compute["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"][0]
    dockerfile = (ROOT / "inference_container" / "Dockerfile").read_text()
    flags, command = re.search(r"HEALTHCHECK (.*?)\\\s*CMD (\[.*?\])", dockerfile, re.S).groups()
    seconds = {k: int(v) for k, v in re.findall(r"--([a-z-]+)=(\d+)s?", flags)}
    check = container["HealthCheck"]
    assert check["Command"] == ["CMD", *json.loads(command)]
    assert (check["Interval"], check["Timeout"], check["StartPeriod"], check["Retries"]) == (
        seconds["interval"], seconds["timeout"], seconds["start-period"], seconds["retries"])
    assert container["Memory"] == {"Ref": "WorkerMemoryMiB"} and container["MemoryReservation"] < 14336
    assert compute["Parameters"]["WorkerMemoryMiB"]["Default"] == 14336
    environment = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert environment["MAX_RUN_S"] == {"Ref": "MaxRunSeconds"}


def test_the_sagemaker_dispatcher_is_the_tested_function(compute):
    from functions.dispatch import sagemaker

    function = compute["Resources"]["SageMakerDispatchFunction"]["Properties"]
    module, attribute = function["Handler"].rsplit(".", 1)
    assert module == sagemaker.__name__ and callable(getattr(sagemaker, attribute))
    assert "InlineCode" not in function and function["Layers"] == [{"Ref": "DispatchDependenciesLayer"}]
    assert {"BUCKET_NAME", "ENDPOINT_NAME", "MAX_RUN_S"} <= set(function["Environment"]["Variables"])
    bucket = "arn:${AWS::Partition}:s3:::${BucketName}/"
    assert _allowed(compute["Resources"]["SageMakerDispatchFunction"], "s3:PutObject") == [
        {"Fn::Sub": f"{bucket}{keys.SAGEMAKER_INPUTS}*"}]
    (event,) = function["Events"].values()
    assert event["Type"] == "SQS" and event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    output = compute["Resources"]["EndpointConfig"]["Properties"]["AsyncInferenceConfig"]["OutputConfig"]
    assert output["S3OutputPath"]["Fn::Sub"].endswith(f"/{keys.SAGEMAKER_OUTPUTS}")
    assert output["S3FailurePath"]["Fn::Sub"].startswith(f"s3://${{BucketName}}/{keys.SAGEMAKER_OUTPUTS}")
    parameters = load_template()["Resources"]["GpuCompute"]["Properties"]["Parameters"]
    required = {name for name, parameter in compute["Parameters"].items() if "Default" not in parameter}
    assert required <= set(parameters) <= set(compute["Parameters"])  # every required one passed, nothing unknown


# ---- identity and secrets: authentication is always on, and nothing secret is in any process's environment -------
#: a word that makes a variable name look secret; such a name must say where the secret lives (…_ID, …_ARN, …_NAME)
SECRET_WORD = re.compile(r"(^|_)(SECRETS?|PASSWORDS?|PASSWD|TOKENS?|API_?KEYS?|KEYS?|CREDENTIALS?|PRIVATE)(_|$)")
WHERE_A_SECRET_LIVES = ("_ID", "_ARN", "_NAME")
#: names with such a word that hold no secret, and what they hold
NOT_SECRETS = {"KEY_CACHE_TTL_S": "how long the API trusts a looked-up key, in seconds"}
#: resource attributes that are secret values (an app client's secret, an access key's secret, ...)
SECRET_ATTRIBUTE = re.compile(r"secret|password|token|privatekey", re.I)
SECRET_TYPES = ("AWS::SecretsManager::Secret",)


def _environments(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The environment every process of ``template`` starts with: Lambda functions, ECS containers (with the secrets
    ECS would inject into them), SageMaker models' containers."""
    found: dict[str, dict[str, Any]] = {}
    for name, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::Lambda::Function":
            found[name] = properties.get("Environment", {}).get("Variables", {})
        elif resource["Type"] == "AWS::ECS::TaskDefinition":
            for index, container in enumerate(properties["ContainerDefinitions"]):
                found[f"{name}[{index}]"] = {**{e["Name"]: e["Value"] for e in container.get("Environment", [])},
                                             **{s["Name"]: s for s in container.get("Secrets", [])}}
        elif resource["Type"] == "AWS::SageMaker::Model":
            containers = [properties.get("PrimaryContainer") or {}, *properties.get("Containers", [])]
            for index, container in enumerate(containers):
                found[f"{name}[{index}]"] = container.get("Environment", {})
    return found


def _attributes(node: Any) -> set[tuple[str, str]]:
    """Every ``(resource, attribute)`` that ``node`` reads with Fn::GetAtt or ``${resource.attribute}``."""
    found: set[tuple[str, str]] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Fn::GetAtt":
                resource, attribute = value if isinstance(value, list) else value.split(".", 1)
                found.add((resource, str(attribute)))
            elif key == "Fn::Sub":
                text = value if isinstance(value, str) else value[0]
                for part in text.split("${")[1:]:
                    resource, dot, attribute = part.split("}")[0].partition(".")
                    if dot:
                        found.add((resource, attribute))
                found |= _attributes(value[1]) if isinstance(value, list) else set()
            else:
                found |= _attributes(value)
    elif isinstance(node, list):
        for item in node:
            found |= _attributes(item)
    return found


def _secrets_in_environments(template: dict[str, Any]) -> list[str]:
    """What in ``template``'s environments is, or may be, a secret value (empty: nothing)."""
    no_echo = {name for name, parameter in template.get("Parameters", {}).items()
               if str(parameter.get("NoEcho", "false")).lower() == "true"}
    secrets = {name for name, resource in template["Resources"].items() if resource["Type"] in SECRET_TYPES}
    problems = []
    for where, variables in _environments(template).items():
        for name, value in variables.items():
            text = json.dumps(value)
            if re.search(r"\{\{resolve:(secretsmanager|ssm-secure):", text):
                problems.append(f"{where} {name}: a dynamic reference resolves a secret's value into it")
            if isinstance(value, dict) and "ValueFrom" in value:
                problems.append(f"{where} {name}: ECS injects a secret's value into it")
            problems += [f"{where} {name}: the NoEcho parameter {p}" for p in sorted(_references(value) & no_echo)]
            problems += [f"{where} {name}: {resource}.{attribute}" for resource, attribute in sorted(_attributes(value))
                         if resource in secrets or SECRET_ATTRIBUTE.search(attribute)]
            names_a_place = name.endswith(WHERE_A_SECRET_LIVES)
            if _references(value) & secrets and not names_a_place:
                problems.append(f"{where} {name}: a secret's ARN under a name that is not …_ID/_ARN/_NAME")
            if SECRET_WORD.search(name) and not names_a_place and name not in NOT_SECRETS:
                problems.append(f"{where} {name}: the name looks secret")
            if "drk_" in text:
                problems.append(f"{where} {name}: an API key's token")
    return problems


def test_no_secret_appears_in_any_functions_environment_in_the_transformed_templates(transformed,
                                                                                       transformed_compute):
    """Every Lambda function (both templates), the ECS worker's containers and the SageMaker
    model hold names and ARNs only; secrets are read at run time by the one function that needs each."""
    environments = {**_environments(transformed), **_environments(transformed_compute)}
    assert {"ApiFunction", "WebhookFunction", "SageMakerDispatchFunction", "TaskDefinition[0]", "Model[0]"} <= set(
        environments)  # every kind of process was looked at
    assert _secrets_in_environments(transformed) == []
    assert _secrets_in_environments(transformed_compute) == []
    for template in (load_template(), load_template(COMPUTE)):
        assert not [n for n, p in template["Parameters"].items() if p.get("NoEcho")]  # no secret is a parameter


def test_the_secret_check_finds_each_way_a_secret_reaches_an_environment():
    """The check above can fail: each of these (the first two are how this stack held its secrets before) is found."""
    template = {
        "Parameters": {"ApiKey": {"Type": "String", "NoEcho": True}, "Stage": {"Type": "String"}},
        "Resources": {
            "Secret": {"Type": "AWS::SecretsManager::Secret", "Properties": {}},
            "Client": {"Type": "AWS::Cognito::UserPoolClient", "Properties": {}},
            "Fn": {"Type": "AWS::Lambda::Function", "Properties": {"Environment": {"Variables": {
                "API_KEYS": {"Ref": "ApiKey"},
                "WEBHOOK_SIGNING": "{{resolve:secretsmanager:webhook:SecretString}}",
                "CLIENT": {"Fn::GetAtt": ["Client", "ClientSecret"]},
                "SIGNING_AT": {"Ref": "Secret"},
                "DB_PASSWORD": "hunter2",
                "FRONTEND": "drk_abcdefghijklmnopqrstuvwxyz",
                "STAGE": {"Fn::Sub": "${Stage}"}, "SIGNING_SECRET_ARN": {"Ref": "Secret"},  # fine
                "KEY_CACHE_TTL_S": "60", "KEYS_TABLE_NAME": "keys",  # fine
            }}}},
            "Task": {"Type": "AWS::ECS::TaskDefinition", "Properties": {"ContainerDefinitions": [
                {"Secrets": [{"Name": "HF_TOKEN_VALUE", "ValueFrom": {"Ref": "Secret"}}]}]}},
        },
    }
    found = {problem.split(":")[0] for problem in _secrets_in_environments(template)}
    assert found == {"Fn API_KEYS", "Fn WEBHOOK_SIGNING", "Fn CLIENT", "Fn SIGNING_AT", "Fn DB_PASSWORD",
                     "Fn FRONTEND", "Task[0] HF_TOKEN_VALUE"}


def _grants(template: dict[str, Any]) -> list[tuple[str, list[str], list[Any]]]:
    """``(role, actions, resources)`` of every statement of every role and policy of ``template``."""
    grants = []
    for name, resource in template["Resources"].items():
        documents = []
        if resource["Type"] == "AWS::IAM::Role":
            documents = [policy["PolicyDocument"] for policy in resource["Properties"].get("Policies", [])]
            assert not any("ecret" in json.dumps(arn) for arn in resource["Properties"].get("ManagedPolicyArns", []))
        elif resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            documents = [resource["Properties"]["PolicyDocument"]]
        for document in documents:
            for statement in document["Statement"]:
                if statement.get("Effect") != "Allow":
                    continue
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                resources = statement["Resource"] if isinstance(statement["Resource"], list) else [
                    statement["Resource"]]
                grants.append((name, actions, resources))
    return grants


def test_only_the_webhook_function_and_the_worker_read_their_secrets_and_only_the_api_reads_the_keys_table(
        transformed, transformed_compute):
    grants = _grants(transformed) + _grants(transformed_compute)
    secret_readers = [(role, actions, resources) for role, actions, resources in grants
                      if any(a.startswith("secretsmanager:") or a == "*" for a in actions)
                      or "WebhookSigningSecret" in _references(resources)]
    assert secret_readers == [("WebhookFunctionRole", ["secretsmanager:GetSecretValue"],
                               [{"Ref": "WebhookSigningSecret"}]),
                              ("WorkerAccessPolicy", ["secretsmanager:GetSecretValue"],  # the songs' signing key
                               [{"Ref": "ContentCredentialsSecretArn"}])]
    assert transformed["Resources"]["GpuCompute"]["Properties"]["Parameters"]["ContentCredentialsSecretArn"] == {
        "Ref": "ContentCredentialsSecret"}
    key_readers = [(role, actions, resources) for role, actions, resources in grants
                   if "ApiKeysTable" in _references(resources)
                   or any(a.startswith("dynamodb:") and r == "*" for a in actions for r in resources)]
    assert key_readers == [("ApiFunctionRole", ["dynamodb:GetItem"], [{"Fn::GetAtt": ["ApiKeysTable", "Arn"]}])]
    # and only they are told where those are
    environments = _environments(transformed)
    assert [n for n, env in environments.items() if "KEYS_TABLE_NAME" in env] == ["ApiFunction"]
    assert [n for n, env in environments.items() if "WEBHOOK_SECRET_ID" in env] == ["WebhookFunction"]


def test_authentication_is_the_apps_and_always_on_and_user_sign_in_is_optional(transformed):
    from shared.settings import Settings

    template, resources = load_template(), transformed["Resources"]
    # API Gateway holds no keys and requires none: the app authenticates every request (stage throttling stays)
    types = {r["Type"] for r in resources.values()}
    assert not types & {"AWS::ApiGateway::ApiKey", "AWS::ApiGateway::UsagePlan", "AWS::ApiGateway::UsagePlanKey"}
    assert "api_key" not in json.dumps(resources["Api"]["Properties"]["Body"])  # no method requires a gateway key
    assert not {"ApiKey", "WebhookSecret"} & set(template["Parameters"])
    (stage,) = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::ApiGateway::Stage"]
    assert stage["MethodSettings"][0]["ThrottlingRateLimit"] > 0
    for response in template["Resources"]["Api"]["Properties"]["GatewayResponses"].values():
        allowed = response["ResponseParameters"]["Headers"]["Access-Control-Allow-Headers"].strip("'").split(",")
        assert {"x-api-key", "authorization", "x-end-user", "idempotency-key"} <= set(allowed)

    environments = _environments(transformed)
    assert not [n for n, env in environments.items() if "ALLOW_ANONYMOUS" in env]  # refused in Lambda anyway
    api = environments["ApiFunction"]
    assert api["KEYS_TABLE_NAME"] == {"Ref": "ApiKeysTable"}  # keys always exist: no credentials = 401
    assert api["KEY_CACHE_TTL_S"] == "60"  # a revoked key stops within a minute
    assert api["OIDC_ISSUER"] == {"Fn::If": ["UserSignIn", {
        "Fn::Sub": "https://cognito-idp.${AWS::Region}.${AWS::URLSuffix}/${UserPool}"}, {"Ref": "OidcIssuer"}]}
    assert api["OIDC_AUDIENCES"] == {"Fn::If": ["UserSignIn", {"Ref": "UserPoolClient"},
                                                {"Fn::Join": [",", {"Ref": "OidcAudiences"}]}]}
    quotas = {"RATE_LIMIT_PER_HOUR": "RateLimitPerHour", "JOBS_PER_HOUR": "DefaultJobsPerHour",
              "GPU_SECONDS_PER_DAY": "DefaultGpuSecondsPerDay", "UPLOADS_PER_DAY": "DefaultUploadsPerDay"}
    for variable, parameter in quotas.items():
        assert api[variable] == {"Ref": parameter} and template["Parameters"][parameter]["Default"] > 0, variable
    # every variable a function gets is a setting the code reads (a misspelt name would be silently ignored)
    settings = {name.upper() for name in Settings.model_fields}
    for name, variables in environments.items():
        assert {v for v in variables if not v.startswith("POWERTOOLS_")} <= settings, name

    keys = template["Resources"]["ApiKeysTable"]
    assert keys["DeletionPolicy"] == keys["UpdateReplacePolicy"] == "Retain"
    assert keys["Properties"]["KeySchema"] == [{"AttributeName": "hash", "KeyType": "HASH"}]
    assert keys["Properties"]["BillingMode"] == "PAY_PER_REQUEST"
    assert keys["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert keys["Properties"]["SSESpecification"] == {"SSEEnabled": True}
    secret = template["Resources"]["WebhookSigningSecret"]
    assert secret["Properties"]["GenerateSecretString"] == {"PasswordLength": 64, "ExcludePunctuation": True}
    assert secret["DeletionPolicy"] == "Retain"  # replacing it would change every customer's webhook secret

    # sign-in: off by default; a public browser client (no secret), SRP and refresh only
    assert template["Parameters"]["EnableUserSignIn"]["Default"] == "false"
    pool, client = resources["UserPool"], resources["UserPoolClient"]
    assert pool["Condition"] == client["Condition"] == "UserSignIn"
    assert client["Properties"]["GenerateSecret"] is False
    assert sorted(client["Properties"]["ExplicitAuthFlows"]) == ["ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_SRP_AUTH"]
    assert transformed["Rules"]["OneIssuer"]["RuleCondition"] == {"Fn::Equals": [{"Ref": "EnableUserSignIn"}, "true"]}
    outputs = transformed["Outputs"]
    assert {"KeysTableName", "WebhookSecretArn", "UserPoolId", "UserPoolClientId"} <= set(outputs)
    assert outputs["UserPoolId"]["Condition"] == outputs["UserPoolClientId"]["Condition"] == "UserSignIn"
    assert outputs["WebhookSecretArn"]["Value"] == {"Ref": "WebhookSigningSecret"}
