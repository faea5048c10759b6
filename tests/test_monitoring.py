"""Monitoring: five alarms with per-environment thresholds, alarm and OK actions."""

from __future__ import annotations

from scripts.build.resolve import resolve
from templates_src.environments import ENVIRONMENTS

EXPECTED = {
    "AppCpuHighAlarm": ("CPUUtilization", lambda a: a.cpu_high_percent),
    "LoadBalancer5xxAlarm": ("HTTPCode_ELB_5XX_Count", lambda a: a.alb_5xx_per_minute),
    "UnhealthyHostsAlarm": ("UnHealthyHostCount", lambda a: a.unhealthy_hosts),
    "DatabaseCpuHighAlarm": ("CPUUtilization", lambda a: a.database_cpu_percent),
    "DatabaseFreeStorageLowAlarm": ("FreeStorageSpace",
                                    lambda a: a.database_free_storage_gib * 2**30),
}


def test_each_alarm_has_its_threshold_and_both_actions(each_env):
    thresholds = ENVIRONMENTS[each_env.environment].alarms
    alarms = each_env.resources("monitoring", "AWS::CloudWatch::Alarm")
    assert sorted(alarms) == sorted(EXPECTED)
    for logical_id, (metric, threshold) in EXPECTED.items():
        props = alarms[logical_id]["Properties"]
        assert props["MetricName"] == metric
        assert props["Threshold"] == str(threshold(thresholds))
        assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}]
        assert props["OKActions"] == [{"Ref": "AlarmTopic"}]


def test_email_is_subscribed_only_when_given(rendered, dev):
    assert "AlarmEmailSubscription" not in dev.resources("monitoring")
    with_email = resolve(rendered["monitoring"], "dev", "us-east-1",
                         {"AlarmEmail": "ops@example.com"})
    subscription = with_email["Resources"]["AlarmEmailSubscription"]["Properties"]
    assert subscription["Endpoint"] == "ops@example.com"
    assert subscription["TopicArn"] == {"Ref": "AlarmTopic"}


def test_the_alarm_topic_is_encrypted_under_the_data_key(each_env):
    assert each_env.props("monitoring", "AlarmTopic")["KmsMasterKeyId"] == {"Ref": "DataKeyArn"}


def test_only_this_accounts_cloudwatch_alarms_may_publish_and_only_over_tls(each_env):
    policy = each_env.props("monitoring", "AlarmTopicPolicy")
    assert policy["Topics"] == [{"Ref": "AlarmTopic"}]
    statements = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
    publish = statements["CloudWatchAlarmsPublish"]
    assert publish["Principal"] == {"Service": ["cloudwatch.amazonaws.com"]}
    assert publish["Action"] == ["sns:Publish"]
    assert publish["Resource"] == [{"Ref": "AlarmTopic"}]
    assert publish["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    deny = statements["DenyInsecureTransport"]
    assert (deny["Effect"], deny["Condition"]) == (
        "Deny", {"Bool": {"aws:SecureTransport": "false"}})
