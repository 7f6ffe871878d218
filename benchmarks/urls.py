"""The app's URLs plus the bare baselines: /bench/bare-insert (DRF) and /bench/bare-django-insert."""

from django.db import connection
from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import urlpatterns as app_urlpatterns
from tracking.views import PIXEL_GIF

BARE_TABLE = "bench_bare_insert"


class BareInsertView(APIView):
    """A bare DRF view: parse JSON, one INSERT, answer 202. No auth, throttle or logic."""

    authentication_classes = []
    permission_classes = []
    throttle_classes = []

    def post(self, request):
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {BARE_TABLE} (unique_code, body) VALUES (%s, %s) RETURNING id",
                [request.data.get("unique_code", ""), request.body.decode()],
            )
            (row_id,) = cursor.fetchone()
        return Response({"id": row_id, "status": "pending"}, status=202)


@csrf_exempt
def bare_django_insert(request):
    """A bare Django view: one INSERT of the body, answer 200. No parsing, checks or logic."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {BARE_TABLE} (unique_code, body) VALUES ('', %s)", [request.body.decode()]
        )
    return HttpResponse("ok")


def bare_gif(request, token):
    """A bare Django view answering the same 43-byte GIF as the pixel: no token check, no write."""
    return HttpResponse(PIXEL_GIF, content_type="image/gif")


urlpatterns = [
    *app_urlpatterns,
    path("bench/bare-insert", BareInsertView.as_view()),
    path("bench/bare-django-insert", bare_django_insert),
    path("bench/bare-gif/<str:token>", bare_gif),
]
