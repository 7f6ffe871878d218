from django.urls import path

from tracking import views

urlpatterns = [
    path("u/<str:token>", views.unsubscribe, name="unsubscribe"),
    path("webhooks/ses/", views.ses_webhook, name="ses-webhook"),
]
