"""Public views reached from links in our emails; no login, no cookies."""

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from tracking import services


@csrf_exempt  # RFC 8058: mail providers POST without cookies or a form token; the signed URL is the proof.
@never_cache
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET asks for confirmation and changes nothing (scanners prefetch links); POST unsubscribes."""
    execution = services.step_execution_by_unsubscribe_token(token=token)
    if execution is None:
        raise Http404("This unsubscribe link is not valid.")
    context = {"email": execution.email}
    if request.method == "GET":
        return render(request, "tracking/unsubscribe.html", context)
    one_click = request.POST.get("List-Unsubscribe") == "One-Click"
    services.step_execution_unsubscribe(execution=execution, source="one-click" if one_click else "page")
    return render(request, "tracking/unsubscribed.html", context)
