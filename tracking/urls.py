from django.urls import path

from tracking import preference_views, signup_views, views

urlpatterns = [
    path("u/<str:token>", preference_views.unsubscribe, name="unsubscribe"),
    path("o/<str:token>", views.open_pixel, name="open"),
    path("c/<str:token>", views.click, name="click"),
    path("webhooks/ses/", views.ses_webhook, name="ses-webhook"),
    # SNS follows no redirect for a POST: a topic subscribed without the slash must not meet
    # Django's slash redirect and lose every notification.
    path("webhooks/ses", views.ses_webhook),
    path("f/<slug:slug>", signup_views.signup_page, name="signup-form"),
    path("f/<slug:slug>/thanks", signup_views.signup_thanks, name="signup-thanks"),
    path("confirm/<str:token>", signup_views.signup_confirm, name="signup-confirm"),
]
