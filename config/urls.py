from django.contrib import admin
from django.urls import path

from config.health import healthz

admin.site.site_header = "Campanile"
admin.site.site_title = "Campanile"
admin.site.index_title = "Email campaigns"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
]
