"""The local endpoint: the moto shim still needed and still working, and `webstack local`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from scripts import cli, paths
from scripts.errors import Exit, UsageError
from scripts.local import endpoint as local
from scripts.local import moto_shim
from scripts.local.moto_shim.registry import PROBES

pytest_plugins = ["local_endpoint"]

REGION = "us-east-1"
BUCKET = "webstack-artifacts"

CHILD_A = """\
Parameters:
  Suffix: {Type: String}
Resources:
  Topic: {Type: AWS::SNS::Topic}
Outputs:
  Name:
    Value: !Sub "alpha-${Suffix}"
"""
CHILD_B = """\
Parameters:
  FromA: {Type: String}
Resources:
  Topic: {Type: AWS::SNS::Topic}
Outputs:
  Echo:
    Value: !Sub "${FromA}-via-b"
"""
# Written the way build/root.yaml is: YAML short-form !GetAtt Child.Outputs.Name.
PARENT = """\
Resources:
  AStack:
    Type: AWS::CloudFormation::Stack
    Properties:
      TemplateURL: {a_url}
      Parameters: {{Suffix: one}}
  BStack:
    Type: AWS::CloudFormation::Stack
    Properties:
      TemplateURL: {b_url}
      Parameters:
        FromA: !GetAtt AStack.Outputs.Name
Outputs:
  Final:
    Value: !GetAtt BStack.Outputs.Echo
"""


def client(service: str, endpoint_url: str) -> Any:
    """A client with dummy keys, so a developer's own AWS profile never matters here."""
    return boto3.client(service, region_name=REGION, endpoint_url=endpoint_url,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


# The shim -----------------------------------------------------------------------------------

def test_the_shim_closes_every_gap_pinned_moto_still_has_and_leaves_moto_as_it_found_it(
        ) -> None:
    """One pass of the probes with the shim applied, one bare pass after it is removed.

    The bare pass runs every probe on moto exactly as the shim left it, so it checks both that
    the pinned moto still has each gap (else: drop that patch) and that the shim restored moto;
    stock_moto_gaps (which unpatches first) only tells the two apart when it fails.
    """
    gaps = moto_shim.shimmed_moto_gaps()
    assert set(gaps) == set(moto_shim.NEEDED)
    broken = [f"the shim no longer closes gap {name}: update scripts/moto_shim.py"
              for name, still_open in gaps.items() if still_open]
    assert not broken, "; ".join(broken)
    bare = {name: probe() for name, probe in PROBES.items()}
    closed = [name for name, still_open in bare.items() if not still_open]
    if closed:
        stock = moto_shim.stock_moto_gaps()
        fixed = [f"moto fixed gap {name}: drop that part of the shim (scripts/moto_shim.py)"
                 for name in closed if not stock[name]]
        assert not fixed, "; ".join(fixed)
        raise AssertionError(f"the shim left moto patched: gaps {closed} stay closed after it")


def test_the_servers_libyaml_loader_builds_what_motos_yaml_loader_builds() -> None:
    """The server parses moto's templates with libyaml (server.libyaml_loader): the same
    documents as PyYAML's yaml.Loader for build/, JSON and tags, the same errors otherwise."""
    import yaml
    from moto.cloudformation.utils import yaml_tag_constructor

    from scripts.local.moto_shim.server import libyaml_loader
    from scripts.paths import BUILD_DIR

    fast = libyaml_loader()
    if fast is None:
        pytest.skip("PyYAML without libyaml: the server parses with yaml.Loader itself")
    yaml.add_multi_constructor("", yaml_tag_constructor)  # as moto does before each parse
    texts = [p.read_text(encoding="utf-8") for p in sorted(BUILD_DIR.glob("*.yaml"))]
    texts += [PARENT.format(a_url="http://localhost:5000/b/a.yaml", b_url="http://x/b"),
              CHILD_A, json.dumps({"Resources": {"T": {"Type": "AWS::SNS::Topic"}},
                                   "Outputs": {"N": {"Value": 1.5}}})]
    assert len(texts) > 8
    for text in texts:
        assert yaml.load(text, Loader=fast) == yaml.load(text, Loader=yaml.Loader)
    for broken in ("a: [1, 2", "a: b: c", "\tkey: 1"):
        with pytest.raises(yaml.MarkedYAMLError) as stock:
            yaml.load(broken, Loader=yaml.Loader)
        with pytest.raises(type(stock.value)):
            yaml.load(broken, Loader=fast)


@pytest.mark.parametrize("key_spec", ["RSA_2048", "ECC_NIST_P256"])
def test_an_asymmetric_key_signs_and_its_public_key_verifies_though_made_only_when_asked(
        local_endpoint: str, key_spec: str) -> None:
    """The server makes a KMS key's private key when Sign, Verify or GetPublicKey first asks
    (server._lazy_kms_private_keys): the key is still one key, of its spec."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    kms = client("kms", local_endpoint)
    key = kms.create_key(KeySpec=key_spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    algorithm = "RSASSA_PKCS1_V1_5_SHA_256" if key_spec.startswith("RSA") else "ECDSA_SHA_256"
    signature = kms.sign(KeyId=key, Message=b"webstack", SigningAlgorithm=algorithm)["Signature"]
    assert kms.verify(KeyId=key, Message=b"webstack", Signature=signature,
                      SigningAlgorithm=algorithm)["SignatureValid"]
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=key)["PublicKey"])
    if isinstance(public, rsa.RSAPublicKey):
        assert key_spec == "RSA_2048" and public.key_size == 2048
        public.verify(signature, b"webstack", padding.PKCS1v15(), hashes.SHA256())
    else:
        assert isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name == "secp256r1"
        public.verify(signature, b"webstack", ec.ECDSA(hashes.SHA256()))
    symmetric = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=symmetric, Plaintext=b"data")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"data"


def test_nested_stacks_deployed_by_change_set_show_child_outputs(local_endpoint: str) -> None:
    s3 = client("s3", local_endpoint)
    cloudformation = client("cloudformation", local_endpoint)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="nested/a.yaml", Body=CHILD_A.encode())
    s3.put_object(Bucket=BUCKET, Key="nested/b.yaml", Body=CHILD_B.encode())
    body = PARENT.format(a_url=local.template_url(local_endpoint, BUCKET, "nested/a.yaml"),
                         b_url=local.template_url(local_endpoint, BUCKET, "nested/b.yaml"))

    cloudformation.create_change_set(StackName="shim-root", ChangeSetName="create",
                                     ChangeSetType="CREATE", TemplateBody=body)
    cloudformation.execute_change_set(StackName="shim-root", ChangeSetName="create")

    assert outputs(cloudformation, "shim-root") == {"Final": "alpha-one-via-b"}
    children = {s["StackName"].split("-")[2]: outputs(cloudformation, s["StackName"])
                for s in cloudformation.describe_stacks()["Stacks"]
                if s["StackName"].startswith("shim-root-")}
    assert children == {"AStack": {"Name": "alpha-one"}, "BStack": {"Echo": "alpha-one-via-b"}}


# TemplateURL forms ---------------------------------------------------------------------------

@pytest.mark.parametrize(("form", "accepted"), sorted(local.TEMPLATE_URL_FORMS.items()))
def test_moto_reads_template_urls_as_documented(form: str, accepted: bool) -> None:
    from moto import mock_aws
    from moto.cloudformation.utils import get_stack_from_s3_url
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.s3.exceptions import S3ClientError
    from moto.s3.models import s3_backends

    url = form.format(bucket=BUCKET, key="nested/child.yaml")
    with mock_aws():
        s3 = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
        s3.create_bucket(BUCKET, REGION)
        s3.put_object(BUCKET, "nested/child.yaml", b"Resources: {}\n")
        try:
            read = get_stack_from_s3_url(url, DEFAULT_ACCOUNT_ID, "aws") == "Resources: {}\n"
        except S3ClientError:
            read = False
    verb = "reads" if read else "rejects"
    assert read is accepted, f"moto now {verb} {url}: update TEMPLATE_URL_FORMS in scripts/local.py"


def test_template_url_is_path_style_on_localhost() -> None:
    assert local.template_url("http://127.0.0.1:5077", BUCKET, "abc/network.yaml") == \
        f"http://localhost:5077/{BUCKET}/abc/network.yaml"
    with pytest.raises(UsageError, match="not a local endpoint"):
        local.template_url("https://cloudformation.us-east-1.amazonaws.com", BUCKET, "a.yaml")
    with pytest.raises(UsageError, match="URL-decode"):
        local.template_url("http://localhost:5077", BUCKET, "a b.yaml")


def test_server_refuses_to_listen_beyond_loopback(capsys: pytest.CaptureFixture[str]) -> None:
    assert moto_shim.main(["--host", "0.0.0.0", "--port", "5999"]) == Exit.USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "127.0.0.1" in err


# webstack local up | down | status -----------------------------------------------------------

@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private state directory; whatever a test started there is stopped afterwards."""
    monkeypatch.setenv(paths.STATE_DIR_ENV, str(tmp_path))
    try:
        yield tmp_path
    finally:
        server = local.read_state()
        if server and local.is_ours(server.pid, server.port):
            local.down()


def pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_up_down_status(state_dir: Path, monkeypatch: pytest.MonkeyPatch,
                        capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as squatter:  # something that is not ours holds the wanted port
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        monkeypatch.setenv(local.PORT_ENV, str(taken))

        assert cli.main(["local", "up"]) == Exit.OK
        first = capsys.readouterr()
        server = local.read_state()
        assert server is not None and server.port != taken
        assert f"port {taken} is taken" in first.err
        assert server.url == f"http://localhost:{server.port}"
        assert first.out == f"local endpoint up: {server.url} (pid {server.pid})\n"

        assert cli.main(["local", "up"]) == Exit.OK
        assert capsys.readouterr().out == \
            f"local endpoint already up: {server.url} (pid {server.pid})\n"
        assert local.ensure_running() == server.url

    assert cli.main(["local", "status"]) == Exit.OK
    assert capsys.readouterr().out == f"local endpoint up: {server.url} (pid {server.pid})\n"

    client("s3", server.url).create_bucket(Bucket="kept-between-calls")
    names = [b["Name"] for b in client("s3", server.url).list_buckets()["Buckets"]]
    assert names == ["kept-between-calls"]

    assert cli.main(["local", "down"]) == Exit.OK
    assert f"stopped pid {server.pid}" in capsys.readouterr().out
    assert not pid_exists(server.pid)
    assert not (state_dir / "local.json").exists()

    assert cli.main(["local", "status"]) == Exit.FINDINGS
    assert capsys.readouterr().out == "local endpoint down\n"
    assert cli.main(["local", "down"]) == Exit.OK
    assert capsys.readouterr().out == "local endpoint is not running\n"


@pytest.mark.parametrize("decoy_args", [
    [],  # any process
    ["scripts.local.moto_shim", "--port", "1"],  # names our module, but not the recorded port
], ids=["unrelated", "other-port"])
def test_down_refuses_a_pid_that_is_not_our_server(
    state_dir: Path, decoy_args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    decoy = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", *decoy_args])
    try:
        (state_dir / "local.json").write_text(json.dumps({
            "pid": decoy.pid, "port": 5000, "url": "http://localhost:5000", "started": "then"}))

        assert cli.main(["local", "down"]) == Exit.USAGE
        err = capsys.readouterr().err
        assert err.startswith(f"webstack local: not stopping pid {decoy.pid}: it is not")
        assert err.count("\n") == 1
        assert decoy.poll() is None
        assert not (state_dir / "local.json").exists()
    finally:
        decoy.kill()
        decoy.wait()


def test_a_leading_tilde_in_the_state_folder_is_the_home_folder(monkeypatch, tmp_path):
    """A quoted ``~`` reaches webstack unexpanded; it means the home folder, not ./~."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv(paths.STATE_DIR_ENV, "~/state")
    assert paths.state_dir() == tmp_path / "state"
    monkeypatch.setenv(paths.STATE_DIR_ENV, "~no-such-user-here/state")  # as it is, no error
    assert paths.state_dir() == Path("~no-such-user-here/state")
    monkeypatch.setenv(paths.STATE_DIR_ENV, "")
    assert paths.state_dir() == paths.REPO_ROOT / ".webstack"
