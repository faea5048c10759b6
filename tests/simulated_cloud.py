"""A CloudFormation that takes its time, for tests and the bench (not shipped in the package).

``SimulatedCloud`` answers a real botocore client through its ``before-call`` hook (the hook
botocore's Stubber uses), with a root stack and seven nested stacks that start at
ExecuteChangeSet and complete ``duration`` seconds later; so webstack's own watcher and pipeline
run against it as against AWS, with real sleeps and real threads. ``hang`` makes every call
block that long first, as a network call that never answers would.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from scripts.deploy.aws import make_client
from scripts.deploy.options import Options
from scripts.deploy.pipeline import execute
from scripts.deploy.prepare import Prepared

REGION = "us-east-1"


class SimulatedCloud:
    """CloudFormation as a clock sees it: a root stack with seven nested stacks that starts at
    ExecuteChangeSet and completes ``duration`` seconds later, children first.

    Its answers are given to a real botocore client through ``before-call`` (the hook botocore's
    Stubber uses), so the watcher runs through the client it uses against AWS. Each call costs
    ``latency`` seconds, half before the state is read and half after, like a round trip.
    """

    CHILDREN = ("Network", "Security", "Iam", "Storage", "Database", "Compute", "Monitoring")
    STACK = "AWS::CloudFormation::Stack"

    def __init__(self, name: str, duration: float, latency: float, *,
                 quiet_tail: bool = False, region: str = REGION, hang: float = 0.0) -> None:
        self.name = name
        self.region = region
        self.hang = hang
        self.duration = duration
        # The last child finishes at 91% of the duration, or at 50% with a quiet tail.
        self.settled = 0.5 if quiet_tail else 0.91
        self.latency = latency
        self.root_id = self._id(name)
        self.started: float | None = None
        self.events: dict[str, list[dict[str, Any]]] = {}

    def _id(self, name: str) -> str:
        suffix = hashlib.sha256(name.encode()).hexdigest()[:12]
        return f"arn:aws:cloudformation:{self.region}:123456789012:stack/{name}/{suffix}"

    def _schedule(self, start: float) -> None:
        """Children start one after another and finish one after another until ``settled``;
        the root's CREATE_COMPLETE at 100% of the duration is the last event."""
        def event(stack: tuple[str, str], logical: str, status: str, seconds: float, *,
                  physical: str, type_: str = self.STACK) -> dict[str, Any]:
            name, stack_id = stack
            return {"StackId": stack_id, "StackName": name, "LogicalResourceId": logical,
                    "PhysicalResourceId": physical, "ResourceType": type_,
                    "ResourceStatus": status, "EventId": f"{name}-{logical}-{status}",
                    "Timestamp": datetime.fromtimestamp(start + seconds, UTC)}

        root_stack = (self.name, self.root_id)
        root = [event(root_stack, self.name, "CREATE_IN_PROGRESS", 0.0, physical=self.root_id)]
        for index, child in enumerate(self.CHILDREN):
            child_stack = (f"{self.name}-{child}Stack", self._id(f"{self.name}-{child}Stack"))
            child_id = child_stack[1]
            finish = self.settled - (len(self.CHILDREN) - 1 - index) * 0.06
            begin, end = 0.05 * (index + 1), self.duration * finish
            root.append(event(root_stack, f"{child}Stack", "CREATE_IN_PROGRESS", begin,
                              physical=child_id))
            self.events[child_id] = [
                event(child_stack, child_stack[0], "CREATE_IN_PROGRESS", begin + 0.01,
                      physical=child_id),
                event(child_stack, f"{child}Resource", "CREATE_IN_PROGRESS", begin + 0.02,
                      physical="physical", type_="AWS::SSM::Parameter"),
                event(child_stack, f"{child}Resource", "CREATE_COMPLETE", end - 0.02,
                      physical="physical", type_="AWS::SSM::Parameter"),
                event(child_stack, child_stack[0], "CREATE_COMPLETE", end - 0.01,
                      physical=child_id),
            ]
            root.append(event(root_stack, f"{child}Stack", "CREATE_COMPLETE", end,
                              physical=child_id))
        root.append(event(root_stack, self.name, "CREATE_COMPLETE", self.duration,
                          physical=self.root_id))
        self.events[self.root_id] = root

    @property
    def last_event(self) -> datetime:
        newest: datetime = max(e["Timestamp"] for e in self.events[self.root_id])
        return newest

    def prepared(self, options: Options, region: str,
                 emit: Callable[[str], None] = lambda _line: None) -> Prepared:
        """A change set ready to execute against this cloud, on a real botocore client."""
        client = make_client("cloudformation", region, None, "http://127.0.0.1:9")
        self.attach(client)
        target = options.target(region).use_client("cloudformation", client)
        return Prepared(target, emit=emit, change_set_id=f"{self.name}-change-set",
                        change_set_type="CREATE")

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-parameter-build.cloudformation", self._remember)
        client.meta.events.register("before-call.cloudformation", self._answer)

    @staticmethod
    def _remember(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["bench_params"] = dict(params)  # the call's own arguments, before serializing

    def _answer(self, model: Any, context: dict[str, Any], **_: Any
                ) -> tuple[Any, dict[str, Any]]:
        from botocore.awsrequest import AWSResponse

        if self.hang and self.started is not None:
            time.sleep(self.hang)  # a call that does not answer, once the stack is changing
        time.sleep(self.latency / 2)
        body = getattr(self, f"_{model.name}")(context["bench_params"], time.time())
        time.sleep(self.latency / 2)
        return AWSResponse(None, 200, {}, None), {"ResponseMetadata": {"HTTPStatusCode": 200},
                                                  **body}

    def _ExecuteChangeSet(self, params: dict[str, Any], now: float) -> dict[str, Any]:
        self.started = now
        self._schedule(now)
        return {}

    def _DescribeChangeSet(self, params: dict[str, Any], now: float) -> dict[str, Any]:
        return {"ExecutionStatus": "EXECUTE_IN_PROGRESS", "Status": "CREATE_COMPLETE",
                "ChangeSetId": params["ChangeSetName"], "StackName": self.name}

    def _DescribeStacks(self, params: dict[str, Any], now: float) -> dict[str, Any]:
        assert self.started is not None
        done = now >= self.started + self.duration
        return {"Stacks": [{
            "StackName": self.name, "StackId": self.root_id,
            "CreationTime": datetime.fromtimestamp(self.started, UTC),
            "StackStatus": "CREATE_COMPLETE" if done else "CREATE_IN_PROGRESS",
            "Outputs": [{"OutputKey": "AppUrl", "OutputValue": "http://example.invalid"}],
            "Tags": [{"Key": "Environment", "Value": "dev"}],
            "Parameters": [{"ParameterKey": "Environment", "ParameterValue": "dev"}],
        }]}

    def _DescribeStackEvents(self, params: dict[str, Any], now: float) -> dict[str, Any]:
        stack = params["StackName"]
        events = self.events[self.root_id if stack == self.name else stack]
        visible = [e for e in events if e["Timestamp"].timestamp() <= now]
        return {"StackEvents": sorted(visible, key=lambda e: e["Timestamp"], reverse=True)}


@dataclass
class Simulation:
    """One simulated deploy, its client built up front (a boto3 session is not thread-safe)."""

    cloud: SimulatedCloud
    options: Any
    prepared: Any

    @classmethod
    def make(cls, duration: float, latency: float, index: int, *,
             quiet_tail: bool = False) -> Simulation:
        name = f"latency-{index}"
        cloud = SimulatedCloud(name, duration, latency, quiet_tail=quiet_tail)
        options = Options(environment="dev", regions=[REGION], stack_name=name, yes=True,
                          timeout=duration + 60.0)
        return cls(cloud, options, cloud.prepared(options, REGION))

    def run(self) -> float:
        """Execute and watch with webstack's own code; seconds from the last stack event to the
        moment ``deploy.execute`` hands back its result, outputs included."""
        result = execute(self.options, self.prepared)
        reported = time.time()
        if result.code != 0:
            raise RuntimeError(f"the simulated deploy of {self.cloud.name} ended "
                             f"'{result.result}'")
        return reported - self.cloud.last_event.timestamp()
