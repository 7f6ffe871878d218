from django.apps import AppConfig


class TrackingConfig(AppConfig):
    name = "tracking"
    verbose_name = "Tracking"

    def ready(self):
        from delivery import loadtest
        from tracking import selectors

        # Delivery's load test reads SES Send events through this, without importing tracking.
        loadtest.send_events_by_recipient = selectors.send_events_by_recipient
