"""One idempotency contract for every create, as Stripe's: send `Idempotency-Key: <any unique string>`
and a resend with the same key and the same body, within IDEMPOTENCY_KEY_HOURS, is answered exactly as
the first request was (status and body, `Idempotent-Replayed: true`), without doing it again.

- The same key with another body (or on another route) is a 409 `idempotency_key_reused`.
- A resend while the first is still running is a 409 `idempotency_key_in_progress` (retry shortly):
  concurrent duplicates create one object. The key is claimed by inserting its row, which a unique
  constraint makes the only claim, and committed before the work starts so others can see it.
- Only a success is kept: the answer is stored in the same transaction as what the request created,
  so both are kept or neither is. A refusal (4xx) or an error forgets the key, so a client can fix
  its request and send it again under the same key.
- A claim whose request died with its process is taken over after RUNNING_FOR_AT_MOST.
- A dry run (`?dry_run=true`) stores nothing, its key included.
- Credentials kept only as hashes elsewhere (CREDENTIALS) are null in a replay.

Keys belong to the authenticated user; on public routes (registration) to the request itself (`_scope`).
"""

import functools
import hashlib
import json
import re
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from eventsys.api.dry_run import dry_run_requested
from eventsys.api.errors import Conflict
from eventsys.ops.models import IdempotentRequest

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,255}")
RUNNING_FOR_AT_MOST = timedelta(minutes=2)
# Credentials the database keeps only as hashes (an API token, a registration's cancel token) are not
# kept here either: a replay answers them null. A client that lost the first answer revokes and asks again.
CREDENTIALS = frozenset({"token", "cancel_token"})

IDEMPOTENCY_PARAMETER = OpenApiParameter(
    HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description=(
        "Any unique string (a UUID, say), 1 to 255 printable ASCII characters: a resend with the same key "
        "and body within IDEMPOTENCY_KEY_HOURS answers as the first request did, without doing it again."
    ),
)


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"
    default_detail = "This Idempotency-Key was used for another request; use a new key for a new request."


class IdempotencyKeyInProgress(Conflict):
    code = "idempotency_key_in_progress"
    default_detail = "A request with this Idempotency-Key is still running; send it again shortly."


def idempotent(handler):
    """Decorates a view's create handler (`create`, `post`) with the contract above."""

    @functools.wraps(handler)
    def wrapper(view, request, *args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None or dry_run_requested(request):
            return handler(view, request, *args, **kwargs)
        if not KEY_PATTERN.fullmatch(key):
            raise ValidationError({HEADER: ["Must be 1 to 255 printable ASCII characters, without spaces."]})
        request_hash = _request_hash(request)
        claimed = _claim(
            scope=_scope(request, request_hash),
            key=key,
            route=f"{request.method} {request.path}"[:300],
            request_hash=request_hash,
        )
        if isinstance(claimed, Response):
            return claimed
        try:
            with transaction.atomic():
                response = handler(view, request, *args, **kwargs)
                if 200 <= response.status_code < 300:
                    _keep(claimed, response)
                    return response
        except BaseException:
            _forget(claimed)
            raise
        _forget(claimed)
        return response

    return wrapper


def _scope(request, request_hash: str) -> str:
    """Whose key this is. Anonymous callers cannot be told apart, so their key is scoped by the request
    itself: a resend of the same request replays, and someone else's request under the same key is
    a request of its own, neither refused with a 409 nor answered with another caller's answer."""
    if request.user.is_authenticated:
        return f"user:{request.user.pk}"
    return f"anonymous:{request_hash[:40]}"


def _request_hash(request) -> str:
    digest = hashlib.sha256()
    for part in (request.method, request.path, request.META.get("QUERY_STRING", ""), request.body):
        digest.update(part if isinstance(part, bytes) else part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def _claim(*, scope: str, key: str, route: str, request_hash: str) -> "IdempotentRequest | Response":
    """The key's row, claimed for this request; or the answer to give instead (a replay), or a 409."""
    now = timezone.now()
    for _ in range(3):  # a row expired or forgotten between the insert and the look-up: claim again
        try:
            with transaction.atomic():
                return IdempotentRequest.objects.create(
                    scope=scope, key=key, route=route, request_hash=request_hash, created_at=now
                )
        except IntegrityError:
            pass
        first = IdempotentRequest.objects.filter(scope=scope, key=key).first()
        if first is None:
            continue
        if first.created_at <= now - timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS):
            IdempotentRequest.objects.filter(pk=first.pk, created_at=first.created_at).delete()
            continue
        if first.route != route or first.request_hash != request_hash:
            raise IdempotencyKeyReused()
        if first.state == IdempotentRequest.State.DONE:
            return Response(first.response_body, status=first.response_status, headers={REPLAYED_HEADER: "true"})
        if first.created_at <= now - RUNNING_FOR_AT_MOST:  # its request died with its process
            taken = IdempotentRequest.objects.filter(pk=first.pk, created_at=first.created_at).update(created_at=now)
            if taken:
                first.created_at = now
                return first
        raise IdempotencyKeyInProgress()
    raise IdempotencyKeyInProgress()


def _keep(claimed: IdempotentRequest, response: Response) -> None:
    body = json.loads(JSONRenderer().render(response.data)) if response.data is not None else None
    if isinstance(body, dict):
        body.update({name: None for name in CREDENTIALS if name in body})
    IdempotentRequest.objects.filter(pk=claimed.pk).update(
        state=IdempotentRequest.State.DONE, response_status=response.status_code, response_body=body
    )


def _forget(claimed: IdempotentRequest) -> None:
    IdempotentRequest.objects.filter(pk=claimed.pk, state=IdempotentRequest.State.RUNNING).delete()


def idempotency_keys_expire(*, now=None, batch_size: int = 5000) -> int:
    """Delete the keys older than IDEMPOTENCY_KEY_HOURS (beat sends this with the other retention work)."""
    cutoff = (now or timezone.now()) - timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS)
    deleted = 0
    while True:
        ids = list(IdempotentRequest.objects.filter(created_at__lt=cutoff).values_list("pk", flat=True)[:batch_size])
        if not ids:
            return deleted
        deleted += IdempotentRequest.objects.filter(pk__in=ids).delete()[0]
