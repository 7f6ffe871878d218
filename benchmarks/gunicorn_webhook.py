"""gunicorn settings for the webhook benchmark: AWS's certificate download served from a local file.

Only the download is replaced; caching and verification run as in production.
"""

import os


def post_worker_init(worker):
    from tracking import sns

    with open(os.environ["BENCH_SNS_CERTIFICATE"], "rb") as file:
        pem = file.read()
    sns.sns_fetch_certificate = lambda url: pem
