"""A local Amazon SES for development, load tests and chaos tests; it knows nothing of Campanile.

`python -m ses_standin --port 5005` serves the parts of SES that boto3 calls (`api.py`): the v1
query API (SendRawEmail, GetSendQuota, identity verification) and SESv2's account and
suppression-list calls. Optionally (`--events-to URL`) it behaves like SES's mailbox simulator and
event publishing (`mailbox.py`): every accepted message gets its Send, Delivery, Bounce or
Complaint event, posted as a signed SNS notification (`sns.py`) to the webhook, as SNS would; and
simulated readers (`readers.py`) open and click a share of the delivered mail through its real
tracking links; both reach the app through `client.py`. It counts what it did
(`GET /_standin/stats`) so a run can be checked against it. Real SES replaces it by one setting:
unset AWS_ENDPOINT_URL.
"""
