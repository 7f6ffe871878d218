"""The console owns no tables; this module makes Django send it post_migrate, after every app's."""
