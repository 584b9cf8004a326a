"""Drives the simulator with boto3, a client this project did not write.

Usage: python boto3_client.py http://127.0.0.1:PORT
Exits non-zero (with a traceback) on the first failed check.
"""
import json
import sys
import urllib.request

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.retries.standard import RetryContext, ThrottledRetryableChecker
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

ENDPOINT = sys.argv[1]


def client(service, attempts=3):
    return boto3.client(
        service,
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "max_attempts": attempts}),
    )


def admin(path, body):
    request = urllib.request.Request(
        f"{ENDPOINT}/_sim/{path}", data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as response:
        return json.load(response)


def check(condition, message):
    if not condition:
        raise AssertionError(message)
    print("ok:", message)


ivs, ssm = client("ivs"), client("ssm")

created = ivs.create_channel(name="boto3-channel", type="STANDARD", tags={"tenant": "t-1"})
arn = created["channel"]["arn"]
check(arn.startswith("arn:aws:ivs:us-east-1:123456789012:channel/"), f"CreateChannel arn {arn}")
check(created["streamKey"]["value"].startswith("sk_us-east-1_"), "CreateChannel returns the stream key")
check(ivs.get_channel(arn=arn)["channel"]["tags"] == {"tenant": "t-1"}, "GetChannel returns the tags")

recording = ivs.create_recording_configuration(
    name="boto3-rec", destinationConfiguration={"s3": {"bucketName": "boto3-bucket"}}
)["recordingConfiguration"]
check(recording["state"] in ("CREATING", "ACTIVE"), f"recording configuration state {recording['state']}")

private_key = ec.generate_private_key(ec.SECP384R1())
pem = private_key.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
).decode()
pair = ivs.import_playback_key_pair(publicKeyMaterial=pem, name="boto3-key")["keyPair"]
check(pair["arn"].startswith("arn:aws:ivs:us-east-1:123456789012:playback-key/"), "ImportPlaybackKeyPair arn")
check(len(pair["fingerprint"]) == 64, "fingerprint derived from the key")
try:
    ivs.import_playback_key_pair(publicKeyMaterial=pem)
    raise AssertionError("importing the same key twice must fail")
except ClientError as error:
    check(error.response["Error"]["Code"] == "ConflictException", "same key twice is a ConflictException")

ssm.put_parameter(Name="/boto3/secret", Value="s3cr3t", Type="SecureString")
plain = ssm.get_parameter(Name="/boto3/secret", WithDecryption=True)["Parameter"]
check(plain["Value"] == "s3cr3t" and plain["Type"] == "SecureString", "SecureString read with decryption")
hidden = ssm.get_parameter(Name="/boto3/secret", WithDecryption=False)["Parameter"]["Value"]
check("s3cr3t" not in hidden, "SecureString without decryption hides the plaintext")

# Throttling: turn AWS's rates on, scaled down to 0.03 PutParameter/s so that a slow, busy
# machine still exceeds it, and call with retries disabled.
admin("rates", {"enabled": True, "scale": 0.01})
no_retry = client("ssm", attempts=1)
throttled = None
for i in range(10):
    try:
        no_retry.put_parameter(Name=f"/boto3/burst/{i}", Value="v", Type="String")
    except ClientError as error:
        throttled = error
        break
check(throttled is not None, "PutParameter beyond its rate is refused")
check(throttled.response["Error"]["Code"] == "ThrottlingException", "the error code is ThrottlingException")
context = RetryContext(attempt_number=1, parsed_response=throttled.response)
check(ThrottledRetryableChecker().is_retryable(context), "botocore's standard retry classifies it as throttling")

# IVS at 0.1 TPS (scale 0.02): the second CreateChannel is a 429 ThrottlingException.
admin("rates", {"enabled": True, "scale": 0.02})
no_retry_ivs = client("ivs", attempts=1)
no_retry_ivs.create_channel(name="one")
try:
    no_retry_ivs.create_channel(name="two")
    raise AssertionError("the second CreateChannel within ten seconds must be throttled")
except ClientError as error:
    check(error.response["Error"]["Code"] == "ThrottlingException", "IVS throttling code")
    check(error.response["ResponseMetadata"]["HTTPStatusCode"] == 429, "IVS throttling status 429")

# With retries on, botocore retries a throttled call and the retry succeeds.
admin("rates", {"enabled": False, "scale": 1.0})
admin("fail-next", {"operation": "CreateChannel", "count": 1, "error": "ThrottlingException"})
retried = client("ivs", attempts=3).create_channel(name="retried")
check(retried["ResponseMetadata"]["RetryAttempts"] == 1, "botocore retried the throttled call")

# The broadcast lifecycle services: SQS (JSON protocol), EventBridge → SQS, S3 path-style.
sqs, events = client("sqs"), client("events")
s3 = boto3.client(
    "s3", endpoint_url=ENDPOINT, region_name="us-east-1", aws_access_key_id="testing",
    aws_secret_access_key="testing", config=Config(s3={"addressing_style": "path"}),
)
url = sqs.create_queue(QueueName="boto3-events")["QueueUrl"]
queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
policy = {"Statement": [{"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
                         "Action": "sqs:SendMessage", "Resource": queue_arn}]}
sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
events.put_rule(Name="boto3-ivs", EventPattern=json.dumps({"source": ["aws.ivs"]}))
events.put_targets(Rule="boto3-ivs", Targets=[{"Id": "q", "Arn": queue_arn}])
recorded = ivs.create_channel(name="boto3-recorded", recordingConfigurationArn=recording["arn"])["channel"]["arn"]
admin("broadcast/start", {"channelArn": recorded})
admin("broadcast/stop", {"channelArn": recorded})
received = []
while True:
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    if not got:
        break
    for message in got:
        received.append(json.loads(message["Body"]))
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
statuses = [e["detail"].get("recording_status") or e["detail"].get("event_name") for e in received]
check("Recording End" in statuses and "Stream Start" in statuses, f"events through the rule: {statuses}")
try:
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=11)
    raise AssertionError("MaxNumberOfMessages 11 must be refused")
except ClientError as error:
    check(error.response["Error"]["Code"] == "InvalidParameterValue", "SQS validation code")
try:
    sqs.get_queue_url(QueueName="boto3-missing")
    raise AssertionError("a missing queue must be an error")
except ClientError as error:
    check(error.response["Error"]["Code"] in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"),
          f"missing queue code {error.response['Error']['Code']}")

end = next(e for e in received if e["detail"].get("recording_status") == "Recording End")
prefix = end["detail"]["recording_s3_key_prefix"]
listed = s3.list_objects_v2(Bucket="boto3-bucket", Prefix=prefix + "/", Delimiter="/")
folders = sorted(p["Prefix"] for p in listed.get("CommonPrefixes", []))
check(folders == [prefix + "/events/", prefix + "/media/"], f"recording folders {folders}")
ended = json.loads(s3.get_object(Bucket="boto3-bucket", Key=prefix + "/events/recording-ended.json")["Body"].read())
check(ended["media"]["hls"]["playlist"] == "master.m3u8", "recording-ended.json names the master playlist")
s3.put_object(Bucket="boto3-bucket", Key="odd key+/é.txt", Body=b"x")
keys = [o["Key"] for o in s3.list_objects_v2(Bucket="boto3-bucket", Prefix="odd")["Contents"]]
check(keys == ["odd key+/é.txt"], f"keys survive botocore's url encoding: {keys}")
try:
    s3.get_object(Bucket="boto3-bucket", Key="missing")
    raise AssertionError("a missing key must be an error")
except ClientError as error:
    check(error.response["Error"]["Code"] == "NoSuchKey", "S3 NoSuchKey")

print("boto3 client: all checks passed")
