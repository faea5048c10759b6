"""Packaging uploads each child once under its content hash, locks the bucket down, never
touches build/, and hands back a root whose TemplateURLs all point into the bucket."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber
from moto import mock_aws

from scripts.build import yamlio
from scripts.deploy.aws import AwsError, Target
from scripts.deploy.package import (
    TEMPLATE_BODY_LIMIT,
    PackageError,
    Uploader,
    artifact_bucket_name,
    ensure_artifact_bucket,
    object_url,
    package,
    rewrite_root,
)
from scripts.errors import Exit
from scripts.paths import BUILD_DIR

ACCOUNT = "123456789012"  # moto's default account
REGION = "eu-west-1"
BUCKET = artifact_bucket_name(ACCOUNT, REGION)
CHILDREN = ("compute.yaml", "database.yaml", "iam.yaml", "monitoring.yaml", "network.yaml",
            "security.yaml", "storage.yaml")


@pytest.fixture(autouse=True)
def no_ambient_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Whatever the developer's shell has configured must not reach these tests."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
                 "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def bucket(aws: None) -> str:
    """The artifact bucket as package() finds it on a second run, minus the TLS-only policy.

    moto 5.2.5 treats a conditioned Deny as unconditional on object requests (a condition key
    it does not supply, aws:SecureTransport, counts as a match), so under the policy every
    head/put_object is 403 in moto while AWS lets TLS requests through. The policy itself is
    checked on first use below; the canary test notices when moto stops needing this.
    """
    name = ensure_artifact_bucket(target())
    s3().delete_bucket_policy(Bucket=name)
    return name


def target(region: str = REGION, endpoint_url: str | None = None) -> Target:
    return Target("dev", region, "webstack-dev", endpoint_url=endpoint_url)


def s3(region: str = REGION) -> Any:
    return boto3.client("s3", region_name=region)


def build_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "build"
    shutil.copytree(BUILD_DIR, copy)
    return copy


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stack_urls(root_body: str) -> dict[str, str]:
    resources = yamlio.load(root_body)["Resources"]
    return {logical_id: r["Properties"]["TemplateURL"] for logical_id, r in resources.items()
            if r["Type"] == "AWS::CloudFormation::Stack"}


# --- the artifact bucket ---------------------------------------------------------------------

def test_bucket_is_per_account_and_region() -> None:
    assert artifact_bucket_name("111122223333", "us-west-2") == (
        "webstack-artifacts-111122223333-us-west-2")


def test_first_use_creates_the_bucket_encrypted_private_tls_only_and_expiring(aws: None) -> None:
    assert ensure_artifact_bucket(target()) == BUCKET
    client = s3()

    assert client.get_bucket_location(Bucket=BUCKET)["LocationConstraint"] == REGION
    (rule,) = client.get_bucket_encryption(Bucket=BUCKET)[
        "ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert client.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "IgnorePublicAcls": True,
        "BlockPublicPolicy": True, "RestrictPublicBuckets": True,
    }
    assert client.get_bucket_ownership_controls(Bucket=BUCKET)["OwnershipControls"] == {
        "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}

    (statement,) = json.loads(client.get_bucket_policy(Bucket=BUCKET)["Policy"])["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Principal"] == "*"
    assert statement["Action"] == ["s3:*"]
    assert sorted(statement["Resource"]) == [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"]
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}

    (lifecycle,) = client.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
    assert lifecycle["Status"] == "Enabled"
    assert lifecycle["Expiration"] == {"Days": 90}
    assert lifecycle["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}


def test_us_east_1_bucket_is_created_without_a_location_constraint(aws: None) -> None:
    bucket = ensure_artifact_bucket(target("us-east-1"))
    assert bucket == artifact_bucket_name(ACCOUNT, "us-east-1")
    assert s3("us-east-1").get_bucket_location(Bucket=bucket)["LocationConstraint"] is None


def test_an_existing_bucket_is_reused_with_a_single_head_bucket(aws: None) -> None:
    ensure_artifact_bucket(target())
    again = target()
    calls: list[str] = []
    again.client("s3").meta.events.register(
        "before-call.s3.*", lambda model, **_: calls.append(model.name))
    assert ensure_artifact_bucket(again) == BUCKET
    assert calls == ["HeadBucket"]


def test_moto_still_denies_objects_under_the_tls_only_policy(aws: None) -> None:
    """Canary for the ``bucket`` fixture: when this fails, moto got it right; drop the removal."""
    ensure_artifact_bucket(target())
    with pytest.raises(ClientError, match=r"\(403\)"):
        s3().put_object(Bucket=BUCKET, Key="templates/x.yaml", Body=b"x")


def test_a_bucket_left_half_configured_is_deleted_so_the_next_run_starts_over() -> None:
    client = boto3.client("s3", region_name=REGION)
    sts = boto3.client("sts", region_name=REGION)
    with Stubber(client) as s3_stub, Stubber(sts) as sts_stub:
        sts_stub.add_response("get_caller_identity", {"Account": ACCOUNT})
        s3_stub.add_client_error("head_bucket", service_error_code="404", http_status_code=404)
        s3_stub.add_response("create_bucket", {}, {
            "Bucket": BUCKET, "ObjectOwnership": "BucketOwnerEnforced",
            "CreateBucketConfiguration": {"LocationConstraint": REGION}})
        s3_stub.add_client_error("put_bucket_encryption", service_error_code="AccessDenied",
                                 service_message="Access Denied", http_status_code=403)
        s3_stub.add_response("delete_bucket", {}, {"Bucket": BUCKET})
        stubbed = Target("dev", REGION, "webstack-dev").use_client("s3", client).use_client(
            "sts", sts)
        with pytest.raises(AwsError, match=r"configure artifact bucket .*: AccessDenied"):
            ensure_artifact_bucket(stubbed)
        s3_stub.assert_no_pending_responses()


def test_a_bucket_of_another_account_is_refused_in_one_line() -> None:
    client = boto3.client("s3", region_name=REGION)
    sts = boto3.client("sts", region_name=REGION)
    with Stubber(client) as s3_stub, Stubber(sts) as sts_stub:
        sts_stub.add_response("get_caller_identity", {"Account": ACCOUNT})
        s3_stub.add_client_error("head_bucket", service_error_code="403", http_status_code=403)
        stubbed = Target("dev", REGION, "webstack-dev").use_client("s3", client).use_client(
            "sts", sts)
        with pytest.raises(AwsError, match=f"{BUCKET} exists but account {ACCOUNT}") as err:
            ensure_artifact_bucket(stubbed)
    assert "\n" not in str(err.value)
    assert err.value.exit_code == Exit.AWS


# --- packaging -------------------------------------------------------------------------------

def test_children_are_uploaded_under_their_content_hash(bucket: str) -> None:
    packaged = package(target(), BUILD_DIR)

    assert packaged.bucket == BUCKET
    assert sorted(packaged.child_urls) == sorted(CHILDREN)
    for name in CHILDREN:
        body = (BUILD_DIR / name).read_bytes()
        key = f"templates/{sha(body)}.yaml"
        assert packaged.template_hashes[name] == sha(body)
        assert packaged.child_urls[name] == (
            f"https://{BUCKET}.s3.{REGION}.amazonaws.com/{key}")
        assert s3().get_object(Bucket=BUCKET, Key=key)["Body"].read() == body
    assert packaged.template_hashes["root.yaml"] == sha((BUILD_DIR / "root.yaml").read_bytes())
    assert sorted(packaged.uploaded) == sorted(
        f"templates/{sha((BUILD_DIR / n).read_bytes())}.yaml" for n in CHILDREN)


def test_identical_content_is_not_uploaded_again(bucket: str) -> None:
    first = package(target(), BUILD_DIR)
    second = package(target(), BUILD_DIR)
    assert second.uploaded == []
    assert second.child_urls == first.child_urls
    assert second.root_body == first.root_body


def test_a_changed_child_gets_a_new_key_and_only_it_is_uploaded(bucket: str,
                                                                 tmp_path: Path) -> None:
    build = build_copy(tmp_path)
    first = package(target(), build)
    network = build / "network.yaml"
    network.write_bytes(network.read_bytes() + b"# changed\n")

    second = package(target(), build)

    assert second.uploaded == [f"templates/{sha(network.read_bytes())}.yaml"]
    assert second.child_urls["network.yaml"] != first.child_urls["network.yaml"]
    assert {k: v for k, v in second.child_urls.items() if k != "network.yaml"} == {
        k: v for k, v in first.child_urls.items() if k != "network.yaml"}
    assert second.root_body != first.root_body


def test_build_dir_is_not_touched(bucket: str) -> None:
    before = snapshot(BUILD_DIR)
    package(target(), BUILD_DIR)
    assert snapshot(BUILD_DIR) == before


def test_every_template_url_in_the_root_points_into_the_bucket(bucket: str) -> None:
    packaged = package(target(), BUILD_DIR)
    assert packaged.root_body is not None
    assert packaged.root_url is None
    urls = stack_urls(packaged.root_body)
    assert len(urls) == len(CHILDREN)
    for url in urls.values():
        assert url.startswith(f"https://{BUCKET}.s3.{REGION}.amazonaws.com/templates/")
        assert url.removeprefix("https://").split("/", 1)[1] not in CHILDREN
    assert not any(name in packaged.root_body for name in CHILDREN)


def test_the_packaged_root_differs_from_build_only_in_template_url_lines(bucket: str) -> None:
    packaged = package(target(), BUILD_DIR)
    assert packaged.root_body is not None
    built = (BUILD_DIR / "root.yaml").read_text(encoding="utf-8").splitlines()
    ours = packaged.root_body.splitlines()
    assert len(ours) == len(built)
    changed = [(a, b) for a, b in zip(built, ours, strict=True) if a != b]
    assert len(changed) == len(CHILDREN)
    assert all(a.strip().startswith("TemplateURL: ") and b.strip().startswith("TemplateURL: ")
               for a, b in changed)


def test_an_injected_url_for_decides_the_urls(bucket: str) -> None:
    packaged = package(target(), BUILD_DIR, url_for=lambda bucket, key: f"s3x://{bucket}/{key}")
    assert packaged.child_urls["network.yaml"].startswith(f"s3x://{BUCKET}/templates/")
    assert packaged.root_body is not None
    assert set(stack_urls(packaged.root_body).values()) == set(packaged.child_urls.values())


def test_a_root_too_big_to_send_inline_is_uploaded_and_sent_by_url(bucket: str,
                                                                     tmp_path: Path) -> None:
    build = tmp_path / "build"
    build.mkdir()
    (build / "child.yaml").write_text("Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n")
    root = {
        "Metadata": {"Padding": "x" * TEMPLATE_BODY_LIMIT},
        "Resources": {"Child": {"Type": "AWS::CloudFormation::Stack",
                                "Properties": {"TemplateURL": "child.yaml"}}},
    }
    (build / "root.yaml").write_text(yamlio.dump(root))

    packaged = package(target(), build)

    assert packaged.root_body is None
    assert packaged.root_url is not None
    key = packaged.root_url.split(".amazonaws.com/", 1)[1]
    assert key in packaged.uploaded
    uploaded_root = s3().get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert len(uploaded_root) > TEMPLATE_BODY_LIMIT
    assert stack_urls(uploaded_root.decode()) == {"Child": packaged.child_urls["child.yaml"]}


def test_a_missing_child_is_one_line_naming_webstack_build(bucket: str, tmp_path: Path) -> None:
    build = build_copy(tmp_path)
    (build / "iam.yaml").unlink()
    with pytest.raises(PackageError, match=r"IamStack: .*iam\.yaml not found; run 'webstack "
                                           r"build'") as err:
        package(target(), build)
    assert "\n" not in str(err.value)


def test_a_child_outside_build_is_refused(tmp_path: Path) -> None:
    build = tmp_path / "build"
    build.mkdir()
    (tmp_path / "elsewhere.yaml").write_text("Resources: {}\n")
    (build / "root.yaml").write_text(yamlio.dump({"Resources": {"Child": {
        "Type": "AWS::CloudFormation::Stack",
        "Properties": {"TemplateURL": "../elsewhere.yaml"}}}}))
    with pytest.raises(PackageError, match="points outside"):
        package(target(), build)


def test_rewrite_falls_back_to_a_full_dump_for_layouts_a_line_edit_cannot_handle() -> None:
    text = "Resources:\n  Child: {Type: 'AWS::CloudFormation::Stack', " \
           "Properties: {TemplateURL: child.yaml}}\n"
    root = yamlio.load(text)
    rewritten = rewrite_root(text, root, {"child.yaml": "https://b.s3/x.yaml"})
    assert stack_urls(rewritten) == {"Child": "https://b.s3/x.yaml"}


def test_an_object_near_expiry_is_uploaded_again() -> None:
    client = boto3.client("s3", region_name=REGION)
    body = b"Resources: {}\n"
    key = f"templates/{sha(body)}.yaml"
    with Stubber(client) as stub:
        stub.add_response("head_object", {"LastModified": datetime.now(UTC) - timedelta(days=70)},
                          {"Bucket": BUCKET, "Key": key})
        stub.add_response("put_object", {}, {"Bucket": BUCKET, "Key": key, "Body": body,
                                             "ContentType": ANY})
        uploader = Uploader(client, BUCKET)
        assert uploader.put(body) == key
        assert uploader.uploaded == [key]
        stub.assert_no_pending_responses()


# --- URLs on a local endpoint ----------------------------------------------------------------

@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:5000", "http://localhost:5000",
                                      "http://[::1]:5000"])
def test_local_urls_are_path_style_on_localhost_never_127_0_0_1(endpoint: str) -> None:
    assert object_url(target(endpoint_url=endpoint), "b", "templates/k.yaml") == (
        "http://localhost:5000/b/templates/k.yaml")


def test_aws_urls_are_virtual_hosted_in_the_target_region() -> None:
    assert object_url(target("us-east-1"), "b", "templates/k.yaml") == (
        "https://b.s3.us-east-1.amazonaws.com/templates/k.yaml")




def test_on_a_moto_server_at_127_0_0_1_the_urls_say_localhost_and_resolve(
        moto_url: str) -> None:
    port = moto_url.rsplit(":", 1)[1]
    local = target(endpoint_url=f"http://127.0.0.1:{port}")
    packaged = package(local, BUILD_DIR)
    assert packaged.root_body is not None
    urls = list(stack_urls(packaged.root_body).values())
    assert all(u.startswith(f"http://localhost:{port}/{BUCKET}/templates/") for u in urls)
    assert "127.0.0.1" not in packaged.root_body
    # moto's CloudFormation can fetch what it is given.
    cfn = local.client("cloudformation")
    assert "Parameters" in cfn.validate_template(TemplateURL=packaged.child_urls["iam.yaml"])
    # Plain http: a TLS-only policy would refuse every request, so there is none.
    with pytest.raises(ClientError, match="NoSuchBucketPolicy"):
        local.client("s3").get_bucket_policy(Bucket=packaged.bucket)
