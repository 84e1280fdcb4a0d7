"""Refuse malformed requests before anything reads them, on every route (API, admin and legacy alike).

- Bodies over REQUEST_MAX_BYTES are a 413. Django enforces DATA_UPLOAD_MAX_MEMORY_SIZE only when
  `request.body` or form data is read; DRF's JSON parser streams the body instead, so the limit is
  checked here on the declared length.
- A chunked body (`Transfer-Encoding: chunked`, no Content-Length) is read here, under the same cap,
  when the server says it ends the input (`wsgi.input_terminated`, as gunicorn does); Django would
  otherwise read it as empty. A server that does not say so gets a 411 Length Required.
- Control characters in the path or in query parameters are a 400 naming the parameter:
  PostgreSQL refuses NUL in text, so a `?coin=%00` would otherwise fail deep inside a query.
"""

import io

from django.conf import settings
from django.core.handlers.wsgi import LimitedStream
from django.http import JsonResponse

from eventsys.api.bounds import control_character_error


class RequestBodyLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = settings.REQUEST_MAX_BYTES
        if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
            refusal = _read_chunked_body(request, limit)
            if refusal is not None:
                return refusal
        declared = request.META.get("CONTENT_LENGTH") or "0"
        try:
            length = int(declared)
        except ValueError:
            return JsonResponse({"detail": "Malformed Content-Length header.", "code": "bad_request"}, status=400)
        if length > limit:
            return _too_large(limit)
        return self.get_response(request)


class ControlCharacterMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if control_character_error(request.path_info):
            return JsonResponse(
                {"detail": "Control characters are not allowed in the path.", "code": "invalid"}, status=400
            )
        errors = {}
        for name, values in request.GET.lists():
            problem = next(filter(None, map(control_character_error, (name, *values))), None)
            if problem:
                errors[name] = [problem]
        if errors:
            return JsonResponse(errors, status=400)
        return self.get_response(request)


def _read_chunked_body(request, limit: int) -> JsonResponse | None:
    if not request.environ.get("wsgi.input_terminated"):
        return JsonResponse(
            {"detail": "A chunked request body is not supported here; send Content-Length.", "code": "length_required"},
            status=411,
        )
    body = request.environ["wsgi.input"].read(limit + 1)
    if len(body) > limit:
        return _too_large(limit)
    # WSGIRequest reads its body from `_stream`, a stream bounded by the length it was told (none).
    request._stream = LimitedStream(io.BytesIO(body), len(body))
    request.META["CONTENT_LENGTH"] = str(len(body))
    return None


def _too_large(limit: int) -> JsonResponse:
    return JsonResponse(
        {"detail": f"Request body is larger than {limit} bytes.", "code": "request_too_large"}, status=413
    )
