from django.urls import path

from tracking import views

urlpatterns = [
    path("u/<str:token>", views.unsubscribe, name="unsubscribe"),
    path("o/<str:token>", views.open_pixel, name="open"),
    path("c/<str:token>", views.click, name="click"),
    path("webhooks/ses/", views.ses_webhook, name="ses-webhook"),
]
