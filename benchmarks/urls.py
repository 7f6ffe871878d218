"""The app's URLs plus /bench/bare-insert, the baseline the messages endpoint is measured against."""

from django.db import connection
from django.urls import path
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import urlpatterns as app_urlpatterns

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


urlpatterns = [*app_urlpatterns, path("bench/bare-insert", BareInsertView.as_view())]
