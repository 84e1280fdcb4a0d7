"""Refuse request bodies over REQUEST_MAX_BYTES with a 413 before anything reads them.

Django enforces DATA_UPLOAD_MAX_MEMORY_SIZE only when `request.body` or form data is read; DRF's
JSON parser streams the body instead, so the limit is checked here on the declared length, for
every route (API, admin and the legacy adapters alike).
"""

from django.conf import settings
from django.http import JsonResponse


class RequestBodyLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        declared = request.META.get("CONTENT_LENGTH") or "0"
        try:
            length = int(declared)
        except ValueError:
            return JsonResponse({"detail": "Malformed Content-Length header.", "code": "bad_request"}, status=400)
        limit = settings.REQUEST_MAX_BYTES
        if length > limit:
            return JsonResponse(
                {"detail": f"Request body is larger than {limit} bytes.", "code": "request_too_large"},
                status=413,
            )
        return self.get_response(request)
