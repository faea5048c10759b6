"""Timed mode: stack operations take time on the endpoint, and the watcher keeps up with them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from scripts import paths
from scripts.deploy.events import Watcher
from scripts.errors import UsageError
from scripts.local import endpoint as local

REGION = "us-east-1"
RESOURCE_SECONDS = 0.25
POLL_MAX = 0.5
CHILD = {"Resources": {f"Topic{i}": {"Type": "AWS::SNS::Topic"} for i in range(2)}}


@pytest.fixture(scope="module")
def timed_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv(paths.STATE_DIR_ENV, str(tmp_path_factory.mktemp("timed-state")))
        server, _ = local.up(port=local.free_port(), resource_seconds=RESOURCE_SECONDS)
        try:
            yield server.url
        finally:
            local.down()


def client(endpoint: str, service: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name=REGION,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def test_the_timed_endpoint_is_refused_an_absurd_delay() -> None:
    with pytest.raises(UsageError, match="0 to 60 seconds"):
        local.up(resource_seconds=-1)


def test_the_watcher_follows_a_timed_nested_create_in_order_and_within_a_poll(
        timed_endpoint: str) -> None:
    s3, cfn = client(timed_endpoint, "s3"), client(timed_endpoint, "cloudformation")
    s3.create_bucket(Bucket="timed")
    s3.put_object(Bucket="timed", Key="child.json", Body=json.dumps(CHILD).encode())
    url = local.template_url(timed_endpoint, "timed", "child.json")
    parent = {"Resources": {
        "First": {"Type": "AWS::CloudFormation::Stack", "Properties": {"TemplateURL": url}},
        "Second": {"Type": "AWS::CloudFormation::Stack", "DependsOn": "First",
                   "Properties": {"TemplateURL": url}}}}
    cfn.create_change_set(StackName="timed", ChangeSetName="create", ChangeSetType="CREATE",
                          TemplateBody=json.dumps(parent))

    started = time.monotonic()
    cfn.execute_change_set(StackName="timed", ChangeSetName="create")
    assert time.monotonic() - started < 1.0  # answered at once, the work goes on
    assert cfn.describe_stacks(StackName="timed")["Stacks"][0]["StackStatus"] == \
        "CREATE_IN_PROGRESS"

    emitted: list[datetime] = []
    result = Watcher(cfn, "timed", emit=lambda _line: emitted.append(datetime.now(UTC)),
                     poll_min=0.2, poll_max=POLL_MAX, timeout=60).run()

    assert result.final_status == "CREATE_COMPLETE"
    # Four topics at RESOURCE_SECONDS each, plus two nested stacks: it took time.
    assert time.monotonic() - started >= 4 * RESOURCE_SECONDS
    events = result.events
    assert len(emitted) == len(events)
    lags = [(seen - event.timestamp).total_seconds() for event, seen in zip(events, emitted,
                                                                          strict=True)]
    assert max(lags) < POLL_MAX + 1.0, lags  # each event printed within about one poll
    assert len({round(t.timestamp(), 1) for t in emitted}) >= 3  # seen over several polls
    order = [(e.path, e.logical_id, e.status) for e in events]
    for path in ("root/First", "root/Second"):
        for topic in ("Topic0", "Topic1"):
            assert order.index((path, topic, "CREATE_IN_PROGRESS")) < \
                order.index((path, topic, "CREATE_COMPLETE"))
    first_done = order.index(("root", "First", "CREATE_COMPLETE"))
    assert first_done < order.index(("root", "Second", "CREATE_IN_PROGRESS"))  # DependsOn
    assert order[-1] == ("root", "timed", "CREATE_COMPLETE")
