"""Package build/ for a deploy, like ``aws cloudformation package`` but in memory.

Children are uploaded under content-hash keys, so an unchanged child is never uploaded twice
and the packaged root changes exactly when a child does. build/ is read, never written: the
root's local ``TemplateURL`` lines are rewritten in the returned body only.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from scripts.build import yamlio
from scripts.deploy.aws import (
    AwsError,
    Target,
    aws_errors,
    endpoint_of,
    error_code,
    error_message,
    is_local,
)
from scripts.errors import Exit, WebstackError

ROOT_FILE: Final = "root.yaml"
KEY_PREFIX: Final = "templates/"
# CloudFormation's limit for an inline TemplateBody; a bigger root goes by TemplateURL.
TEMPLATE_BODY_LIMIT: Final = 51_200
EXPIRY_DAYS: Final = 90
# An object this old is uploaded again, so it cannot expire while a change set waits on it.
REFRESH_AFTER_DAYS: Final = 60
_MISSING_CODES: Final = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchBucket"})
_TEMPLATE_URL_LINE = re.compile(r"^(?P<lead>\s*TemplateURL:\s*)(?P<value>\S+?)\s*$", re.MULTILINE)

UrlFor = Callable[[str, str], str]
"""(bucket, key) -> the URL CloudFormation fetches the object from."""


class PackageError(WebstackError):
    """build/ cannot be packaged as it stands (missing or misplaced child templates)."""

    exit_code = Exit.USAGE


@dataclass(frozen=True)
class Packaged:
    """What a deploy sends to CloudFormation: the root inline (or by URL) and where children live.

    Exactly one of ``root_body`` and ``root_url`` is set.
    """

    root_body: str | None
    root_url: str | None
    child_urls: dict[str, str]
    template_hashes: dict[str, str]
    uploaded: list[str]
    bucket: str
    text: str = ""  # the packaged root itself, however it is sent


def artifact_bucket_name(account_id: str, region: str) -> str:
    """One bucket per account and region: CloudFormation reads TemplateURLs in its own region."""
    return f"webstack-artifacts-{account_id}-{region}"


@contextmanager
def _s3_step(what: str) -> Iterator[None]:
    """aws_errors, plus any other S3 refusal as one line naming the step."""
    from botocore.exceptions import ClientError

    try:
        with aws_errors(what):
            yield
    except ClientError as err:
        raise AwsError(f"{what}: {error_code(err)}: {error_message(err)}") from err


def ensure_artifact_bucket(target: Target) -> str:
    """The artifact bucket's name, creating and locking it down on first use.

    An existing bucket that answers head_bucket for this account is reused as is: the settings
    were applied when it was created, and a failed setup deletes the bucket again.
    """
    from botocore.exceptions import ClientError

    region = target.region
    with _s3_step(f"read the account id in {region}"):
        account = str(target.client("sts").get_caller_identity()["Account"])
    bucket = artifact_bucket_name(account, region)
    s3 = target.client("s3")
    try:
        with aws_errors(f"check artifact bucket {bucket}"):
            s3.head_bucket(Bucket=bucket, ExpectedBucketOwner=account)
        return bucket
    except ClientError as err:
        if error_code(err) not in _MISSING_CODES:
            raise AwsError(
                f"artifact bucket {bucket} exists but account {account} cannot use it "
                f"({error_code(err)}: owned by another account or access denied); "
                "check the deploy role's S3 permissions"
            ) from err

    create: dict[str, Any] = {"Bucket": bucket, "ObjectOwnership": "BucketOwnerEnforced"}
    if region != "us-east-1":
        create["CreateBucketConfiguration"] = {"LocationConstraint": region}
    created = False
    try:
        with aws_errors(f"create artifact bucket {bucket}"):
            s3.create_bucket(**create)
        created = True
    except ClientError as err:
        if error_code(err) != "BucketAlreadyOwnedByYou":  # a concurrent deploy made it first
            raise AwsError(f"create artifact bucket {bucket}: {error_code(err)}: "
                           f"{error_message(err)}") from err
    try:
        _configure_bucket(s3, bucket, region,
                          tls=urlsplit(s3.meta.endpoint_url or "").scheme == "https")
    except BaseException:
        if created:  # so the next run creates and configures it again, instead of reusing it
            with suppress(Exception):
                s3.delete_bucket(Bucket=bucket)
        raise
    return bucket


def _configure_bucket(s3: Any, bucket: str, region: str, *, tls: bool) -> None:
    """Encrypted, private, TLS-only, expiring.

    The TLS-only policy is left out on a plain-http endpoint (a local emulator): there it
    would refuse every request, ours included.
    """
    with _s3_step(f"configure artifact bucket {bucket}"):
        s3.put_bucket_encryption(
            Bucket=bucket,
            ServerSideEncryptionConfiguration={"Rules": [{
                "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
            }]},
        )
        s3.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
        if tls:
            s3.put_bucket_policy(Bucket=bucket, Policy=artifact_bucket_policy(bucket, region))
        s3.put_bucket_lifecycle_configuration(
            Bucket=bucket,
            LifecycleConfiguration={"Rules": [{
                "ID": "expire-packaged-templates",
                "Status": "Enabled",
                "Filter": {"Prefix": ""},
                "Expiration": {"Days": EXPIRY_DAYS},
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
            }]},
        )


def artifact_bucket_policy(bucket: str, region: str) -> str:
    """The bucket policy (JSON): any request not made over TLS is refused; the same policy
    the app bucket carries (templates_src.policies), with a literal ARN."""
    from templates_src.policies import deny_insecure_transport

    partition = "aws-cn" if region.startswith("cn-") else "aws"
    text: str = deny_insecure_transport(f"arn:{partition}:s3:::{bucket}").to_json()
    return text


def object_url(target: Target, bucket: str, key: str, endpoint_url: str | None = None) -> str:
    """Where CloudFormation fetches an object: virtual-hosted S3, or path style on localhost.

    A local endpoint is always written as ``localhost``: moto's CloudFormation only resolves
    path-style template URLs whose text contains "localhost", so 127.0.0.1 fails there.
    """
    endpoint = endpoint_url or target.endpoint_url
    if target.local or is_local(endpoint):
        parts = urlsplit(endpoint or "")
        netloc = f"localhost:{parts.port}" if parts.port else "localhost"
        return f"{parts.scheme or 'http'}://{netloc}/{bucket}/{key}"
    suffix = "amazonaws.com.cn" if target.region.startswith("cn-") else "amazonaws.com"
    return f"https://{bucket}.s3.{target.region}.{suffix}/{key}"


def content_key(body: bytes) -> str:
    return f"{KEY_PREFIX}{hashlib.sha256(body).hexdigest()}.yaml"


def child_references(root: Mapping[str, Any]) -> dict[str, list[str]]:
    """Local file name -> logical ids of the resources whose TemplateURL names it."""
    found: dict[str, list[str]] = {}
    for logical_id, resource in (root.get("Resources") or {}).items():
        url = (resource.get("Properties") or {}).get("TemplateURL")
        if isinstance(url, str) and "://" not in url:
            found.setdefault(url, []).append(logical_id)
    return found


def _read_build(build_dir: Path, name: str, used_by: str) -> bytes:
    base = build_dir.resolve()
    path = (base / name).resolve()
    if not path.is_relative_to(base):
        raise PackageError(f"{used_by}: TemplateURL {name} points outside {build_dir}; "
                           "children must live in build/")
    try:
        return path.read_bytes()
    except FileNotFoundError as err:
        raise PackageError(f"{used_by}: {build_dir / name} not found; run 'webstack build'"
                           ) from err


def rewrite_root(text: str, root: Mapping[str, Any], urls: Mapping[str, str]) -> str:
    """The root with local TemplateURLs replaced, byte for byte the build file otherwise.

    Only the ``TemplateURL: x.yaml`` lines change, so the packaged root stays comparable with
    build/root.yaml and with what a stack already runs. The result is parsed back and checked;
    a layout the line edit cannot handle (flow style, odd quoting) is dumped whole instead.
    """
    expected = copy.deepcopy(dict(root))
    for resource in (expected.get("Resources") or {}).values():
        props = resource.get("Properties") or {}
        if props.get("TemplateURL") in urls:
            props["TemplateURL"] = urls[props["TemplateURL"]]

    def replace(match: re.Match[str]) -> str:
        value = match.group("value")
        quoted = len(value) > 1 and value[0] in "'\"" and value[-1] == value[0]
        name = value[1:-1] if quoted else value
        return match.group("lead") + urls[name] if name in urls else match.group(0)

    edited = _TEMPLATE_URL_LINE.sub(replace, text)
    try:
        if yamlio.load(edited) == expected:
            return edited
    except ValueError:
        pass
    return yamlio.dump(expected)


def package(target: Target, build_dir: Path, *, url_for: UrlFor | None = None,
            dry_run: bool = False, account: str | None = None) -> Packaged:
    """Upload the root's children (and the root itself when too big to send inline).

    ``dry_run`` computes the same packaged root (keys are content hashes) without touching
    the bucket, or making an S3 client: enough to tell whether the deployed stack already runs
    exactly this set. ``account`` (read from a stack's ARN) saves it asking STS.
    """
    root_bytes = _read_build(build_dir, ROOT_FILE, "package")
    root_text = root_bytes.decode("utf-8")
    try:
        root = yamlio.load(root_text)
    except ValueError as err:
        raise PackageError(f"{build_dir / ROOT_FILE}: {err}; run 'webstack build'") from err
    references = child_references(root)
    bodies = {
        name: _read_build(build_dir, name, f"{ROOT_FILE} {', '.join(ids)}")
        for name, ids in sorted(references.items())
    }

    if dry_run:
        if account is None:
            with _s3_step(f"read the account id in {target.region}"):
                account = str(target.client("sts").get_caller_identity()["Account"])
        bucket = artifact_bucket_name(account, target.region)
        s3 = None
    else:
        bucket = ensure_artifact_bucket(target)
        s3 = target.client("s3")
    # Without a client, the endpoint make_client would give it (a mismatch only means the
    # stack looks changed, and a change set decides).
    endpoint = s3.meta.endpoint_url if s3 is not None else endpoint_of(target.endpoint_url)
    make_url = url_for or (lambda b, k: object_url(target, b, k, endpoint_url=endpoint))
    uploader = Uploader(s3, bucket, dry_run=dry_run)

    hashes = {ROOT_FILE: hashlib.sha256(root_bytes).hexdigest()}
    child_urls: dict[str, str] = {}
    for name, body in bodies.items():
        hashes[name] = hashlib.sha256(body).hexdigest()
        child_urls[name] = make_url(bucket, uploader.put(body))

    root_body = rewrite_root(root_text, root, child_urls)
    encoded = root_body.encode("utf-8")
    root_url: str | None = None
    if len(encoded) > TEMPLATE_BODY_LIMIT:
        root_url = make_url(bucket, uploader.put(encoded))
    return Packaged(
        root_body=None if root_url else root_body,
        root_url=root_url,
        child_urls=child_urls,
        template_hashes=hashes,
        uploaded=uploader.uploaded,
        bucket=bucket,
        text=root_body,
    )


class Uploader:
    """Puts content-addressed objects once: a key already present (and fresh) is skipped."""

    def __init__(self, s3: Any, bucket: str, *, dry_run: bool = False) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.dry_run = dry_run
        self.uploaded: list[str] = []
        self._seen: set[str] = set()

    def put(self, body: bytes) -> str:
        key = content_key(body)
        if key in self._seen:
            return key
        self._seen.add(key)
        if not self.dry_run and not self._present(key):
            with _s3_step(f"upload s3://{self.bucket}/{key}"):
                self.s3.put_object(Bucket=self.bucket, Key=key, Body=body,
                                   ContentType="application/yaml")
            self.uploaded.append(key)
        return key

    def _present(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            with aws_errors(f"check s3://{self.bucket}/{key}"):
                head = self.s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as err:
            if error_code(err) in _MISSING_CODES:
                return False
            raise AwsError(f"check s3://{self.bucket}/{key}: {error_code(err)}: "
                           f"{error_message(err)}") from err
        modified = head.get("LastModified")
        fresh_after = datetime.now(UTC) - timedelta(days=REFRESH_AFTER_DAYS)
        return not isinstance(modified, datetime) or modified > fresh_after
