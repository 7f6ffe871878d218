"""Run the SES stand-in: `python -m ses_standin --port 5005 [options]` (see --help)."""

import argparse
import contextlib
import logging
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

from ses_standin.api import Handler, State
from ses_standin.readers import Readers, Shares
from ses_standin.scheduler import Scheduler
from ses_standin.sns import Publisher, Signer

logger = logging.getLogger("ses_standin")


def _options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m ses_standin",
        description="A local Amazon SES: the send API, the mailbox simulator and signed SNS events.",
    )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--state", help="Folder for verified identities, the suppression list and the SNS key."
    )
    parser.add_argument(
        "--verify-senders", action="store_true", help="Refuse senders not verified here, as SES does."
    )
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--account-id", default="000000000000", help="The sendingAccountId of events.")
    parser.add_argument("--max-send-rate", type=float, default=14.0, help="What GetSendQuota answers.")
    parser.add_argument("--max-24-hour-send", type=float, default=200_000.0)
    events = parser.add_argument_group("events (the mailbox simulator and SNS)")
    events.add_argument(
        "--events-to", default="", help="Webhook URL that gets each event as a signed SNS message."
    )
    events.add_argument(
        "--topic-arn", default="", help="The SNS topic events come from (default: ses-standin-events)."
    )
    events.add_argument(
        "--open-share", type=float, default=0.0, help="Share of delivered mail its reader opens."
    )
    events.add_argument(
        "--click-share", type=float, default=0.0, help="Share of opened mail whose reader clicks."
    )
    events.add_argument(
        "--unsubscribe-share", type=float, default=0.0, help="Share of delivered mail unsubscribed."
    )
    events.add_argument(
        "--reader-pace", type=float, default=1.0, help="Multiplies the readers' delays (tests)."
    )
    faults = parser.add_argument_group("load and faults")
    faults.add_argument("--log", help="File that gets one JSON line per accepted (or throttled) message.")
    parser.add_argument(
        "--mail-dir", help="Directory that gets each accepted message as <MessageId>.eml, to read it."
    )
    faults.add_argument("--latency-ms", type=float, default=0.0, help="Time each call takes.")
    faults.add_argument("--throttle", type=float, default=0.0, help="Share of sends refused as throttled.")
    faults.add_argument(
        "--stall-at", type=int, default=0, help="Hold the answer to the Nth accepted message (0: never)."
    )
    faults.add_argument("--stall-seconds", type=float, default=60.0)
    parser.add_argument("--verbose", action="store_true", help="Log every request (quiet by default).")
    options = parser.parse_args()
    if options.events_to and not options.state:
        parser.error("--events-to needs --state: the SNS signing key and certificate are kept there.")
    options.topic_arn = (
        options.topic_arn or f"arn:aws:sns:{options.region}:{options.account_id}:ses-standin-events"
    )
    if options.mail_dir:
        Path(options.mail_dir).mkdir(parents=True, exist_ok=True)
    return options


def _summarize(state: State, every: float = 60.0) -> None:
    """Log one line a minute while something happens: enough to see it work, never a line per email."""
    last = None
    while True:
        time.sleep(every)
        stats = state.stats()
        totals = {
            name: sum(counts.get(name, 0) for counts in stats["campaigns"].values())
            for name in ("delivered", "bounced", "complained", "on_suppression_list", "opened", "clicked")
        }
        line = (
            f"{stats['accepted']} accepted, {totals['delivered']} delivered, {totals['bounced']} bounced, "
            f"{totals['complained']} complaints, {totals['on_suppression_list']} on the suppression list, "
            f"{totals['opened']} opened, {totals['clicked']} clicked; "
            f"events posted {stats['events'].get('published', 0)}, waiting {stats['pending']}"
        )
        if line != last:
            logger.info("ses stand-in: %s", line)
            last = line


def main() -> None:
    options = _options()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    options.schedule = Scheduler()
    publisher = readers = None
    if options.events_to:
        signer = Signer(Path(options.state), region=options.topic_arn.split(":")[3])
        publisher = Publisher(
            url=options.events_to, topic_arn=options.topic_arn, signer=signer, schedule=options.schedule
        )
        shares = Shares(
            open=options.open_share,
            click=options.click_share,
            unsubscribe=options.unsubscribe_share,
            pace=options.reader_pace,
        )
        readers = Readers(shares=shares, schedule=options.schedule)
    elif options.state:
        Path(options.state).mkdir(parents=True, exist_ok=True)
    Handler.state = State(options, publisher=publisher, readers=readers)
    server = ThreadingHTTPServer((options.host, options.port), Handler)
    server.daemon_threads = True
    threading.Thread(target=_summarize, args=(Handler.state,), daemon=True).start()
    events = f"; events to {options.events_to} from {options.topic_arn}" if options.events_to else ""
    print(f"SES stand-in on {options.host}:{options.port}{events}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends it quietly.
        server.serve_forever()


if __name__ == "__main__":
    main()
