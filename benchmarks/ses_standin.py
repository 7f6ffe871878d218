"""A local SES stand-in for load and chaos: speaks the SES v1 query API that boto3 uses.

    python benchmarks/ses_standin.py --port 5055 --log sent.jsonl [--latency-ms 50] [--throttle 0.01]

Answers SendRawEmail after a configurable latency, refusing a share of calls with SES's own
Throttling error; every accepted message becomes one JSON line in --log (message id, recipient,
Campanile's tracking tag, time), written before the answer, so counts survive a crash of the
sender; a throttled call becomes a {"throttled": true} line.
--stall-at N holds the answer to the Nth accepted message and prints "stalled <id>": the moment
to kill a sender that SES has accepted a message from.
Also answers GetSendQuota. moto tops out near 300 calls/s here and never throttles; this does
neither.
"""

import argparse
import base64
import json
import random
import threading
import time
import uuid
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

NAMESPACE = "http://ses.amazonaws.com/doc/2010-12-01/"


def _tags(header: str) -> dict[str, str]:
    pairs = (part.strip().split("=", 1) for part in header.split(",") if "=" in part)
    return dict(pairs)


class StandIn(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes: with Nagle's algorithm on, the body waits for the
    # client's delayed ACK, 40 ms on Linux loopback, which the benchmark would count as SES latency.
    disable_nagle_algorithm = True
    options: argparse.Namespace
    log = None
    lock = threading.Lock()
    accepted = 0

    def do_POST(self):
        form = parse_qs(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode())
        # Arrival time: what SES's own rate counting sees.
        arrived = time.time()
        action = form.get("Action", [""])[0]
        time.sleep(self.options.latency_ms / 1000)
        if action == "SendRawEmail":
            if random.random() < self.options.throttle:  # noqa: S311 - a simulation
                with self.lock:
                    self.log.write(json.dumps({"throttled": True, "at": arrived}) + "\n")
                self._answer(400, self._error("Throttling", "Maximum sending rate exceeded."))
                return
            message = message_from_bytes(base64.b64decode(form["RawMessage.Data"][0]))
            message_id = f"standin-{uuid.uuid4()}"
            record = {
                "at": arrived,
                "id": message_id,
                "to": message["To"],
                "tracking": _tags(message.get("X-SES-MESSAGE-TAGS", "")).get("campanile_step_execution"),
            }
            with self.lock:
                self.log.write(json.dumps(record) + "\n")
                self.log.flush()
                StandIn.accepted += 1
                stall = StandIn.accepted == self.options.stall_at
            if stall:
                # Accepted and logged, but the answer never comes in time: SES took the message
                # and the sender cannot know. A chaos test kills the sender now.
                print(f"stalled {message_id}", flush=True)
                time.sleep(self.options.stall_seconds)
            result = f"<SendRawEmailResult><MessageId>{message_id}</MessageId></SendRawEmailResult>"
            self._answer(200, self._response("SendRawEmail", result))
        elif action == "GetSendQuota":
            result = (
                f"<GetSendQuotaResult><Max24HourSend>1000000</Max24HourSend>"
                f"<MaxSendRate>{self.options.max_send_rate}</MaxSendRate>"
                f"<SentLast24Hours>0</SentLast24Hours></GetSendQuotaResult>"
            )
            self._answer(200, self._response("GetSendQuota", result))
        else:
            self._answer(400, self._error("InvalidAction", f"{action!r} is not served by the stand-in."))

    def _response(self, action: str, result: str) -> str:
        metadata = f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
        return f'<{action}Response xmlns="{NAMESPACE}">{result}{metadata}</{action}Response>'

    def _error(self, code: str, text: str) -> str:
        error = f"<Error><Type>Sender</Type><Code>{code}</Code><Message>{text}</Message></Error>"
        return (
            f'<ErrorResponse xmlns="{NAMESPACE}">{error}<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>'
        )

    def _answer(self, status: int, body: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass  # One line per request would cost more than the request.


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", required=True, help="File that gets one JSON line per accepted message.")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--throttle", type=float, default=0.0, help="Share of sends refused as throttled.")
    parser.add_argument("--max-send-rate", type=float, default=14.0, help="What GetSendQuota answers.")
    parser.add_argument(
        "--stall-at", type=int, default=0, help="Hold the answer to the Nth accepted message (0: never)."
    )
    parser.add_argument("--stall-seconds", type=float, default=60.0)
    options = parser.parse_args()
    StandIn.options = options
    with open(options.log, "a") as log:
        StandIn.log = log
        server = ThreadingHTTPServer(("127.0.0.1", options.port), StandIn)
        server.daemon_threads = True
        print(f"SES stand-in on 127.0.0.1:{options.port}", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
