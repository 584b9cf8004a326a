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

print("boto3 client: all checks passed")
