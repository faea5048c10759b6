"""Monitoring: the alarm topic and one alarm per failure users would notice."""

from __future__ import annotations

from dataclasses import dataclass

from troposphere import Equals, Not, Ref, Template, cloudwatch, sns

from templates_src.common import Stack
from templates_src.policies import alarm_topic_policy

NOTIFY_BY_EMAIL = "NotifyByEmail"


@dataclass(frozen=True)
class AlarmSpec:
    title: str
    description: str
    namespace: str
    metric: str
    statistic: str
    comparison: str
    threshold_column: str
    dimensions: tuple[tuple[str, str], ...]  # (dimension name, parameter holding its value)
    periods: int = 3


ALARMS = (
    AlarmSpec("AppCpuHighAlarm", "App tier average CPU is high", "AWS/EC2", "CPUUtilization",
              "Average", "GreaterThanThreshold", "AlarmCpuHighPercent",
              (("AutoScalingGroupName", "AutoScalingGroupName"),)),
    AlarmSpec("LoadBalancer5xxAlarm", "Load balancer answers 5xx", "AWS/ApplicationELB",
              "HTTPCode_ELB_5XX_Count", "Sum", "GreaterThanThreshold", "AlarmAlb5xxPerMinute",
              (("LoadBalancer", "LoadBalancerFullName"),)),
    AlarmSpec("UnhealthyHostsAlarm", "Targets fail their health check", "AWS/ApplicationELB",
              "UnHealthyHostCount", "Maximum", "GreaterThanOrEqualToThreshold",
              "AlarmUnhealthyHosts",
              (("LoadBalancer", "LoadBalancerFullName"), ("TargetGroup", "TargetGroupFullName"))),
    AlarmSpec("DatabaseCpuHighAlarm", "Database CPU is high", "AWS/RDS", "CPUUtilization",
              "Average", "GreaterThanThreshold", "AlarmDatabaseCpuPercent",
              (("DBInstanceIdentifier", "DatabaseInstanceId"),)),
    AlarmSpec("DatabaseFreeStorageLowAlarm", "Database free storage is low", "AWS/RDS",
              "FreeStorageSpace", "Minimum", "LessThanThreshold", "AlarmDatabaseFreeStorageBytes",
              (("DBInstanceIdentifier", "DatabaseInstanceId"),)),
)
INPUTS = {
    "AutoScalingGroupName": "App Auto Scaling group",
    "LoadBalancerFullName": "Load balancer, as CloudWatch names it",
    "TargetGroupFullName": "Target group, as CloudWatch names it",
    "DatabaseInstanceId": "Database instance identifier",
}


def build() -> Template:
    s = Stack("monitoring", "alarm topic and alarms")
    t = s.template
    inputs = {name: s.input(name, description) for name, description in INPUTS.items()}
    data_key = s.input("DataKeyArn", "Customer-managed key that encrypts the alarm topic")
    email = s.root_parameter("AlarmEmail")
    t.add_condition(NOTIFY_BY_EMAIL, Not(Equals(email, "")))

    topic = t.add_resource(sns.Topic(
        "AlarmTopic", KmsMasterKeyId=data_key, Tags=s.tags("alarms"),
    ))
    t.add_resource(sns.TopicPolicy(
        "AlarmTopicPolicy", Topics=[Ref(topic)], PolicyDocument=alarm_topic_policy(Ref(topic)),
    ))
    t.add_resource(sns.SubscriptionResource(
        "AlarmEmailSubscription",
        Condition=NOTIFY_BY_EMAIL,
        TopicArn=Ref(topic),
        Protocol="email",
        Endpoint=email,
    ))
    for alarm in ALARMS:
        t.add_resource(cloudwatch.Alarm(
            alarm.title,
            AlarmDescription=alarm.description,
            Namespace=alarm.namespace,
            MetricName=alarm.metric,
            Statistic=alarm.statistic,
            ComparisonOperator=alarm.comparison,
            Threshold=s.env(alarm.threshold_column),
            Period=60,
            EvaluationPeriods=alarm.periods,
            DatapointsToAlarm=alarm.periods,
            TreatMissingData="notBreaching",
            Dimensions=[cloudwatch.MetricDimension(Name=name, Value=inputs[param])
                        for name, param in alarm.dimensions],
            AlarmActions=[Ref(topic)],
            OKActions=[Ref(topic)],
            Tags=s.tags(),
        ))
    s.output("AlarmTopicArn", Ref(topic), "Topic that receives every alarm and recovery")
    return s.build()
