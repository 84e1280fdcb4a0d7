"""Accounts: registration, login with lockout, logout, profile changes, passwords and API tokens.

Every write and rule about users and their credentials lives here; the API views, the admin and
the legacy adapters call these functions.
"""

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from urllib.parse import urljoin

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.forms import PasswordResetForm
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, connection, transaction
from django.db.models import Q, QuerySet
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import ApiToken, LoginLockout, User
from eventsys.api.errors import DomainError, TooManyRequests
from eventsys.client_address import client_address
from eventsys.publish import publish_many
from eventsys.service_arguments import reject_unknown_fields

logger = logging.getLogger(__name__)

API_TOKEN_MARKER = "evs"
# Updating last_used_at on every request would turn every authenticated read into a write.
API_TOKEN_LAST_USED_RESOLUTION = timedelta(minutes=1)


class InvalidCredentials(DomainError):
    status_code = 401
    code = "invalid_credentials"
    default_detail = "Invalid username or password."


class LoginLockedOut(TooManyRequests):
    code = "locked_out"
    default_detail = "Too many failed logins; try again later."


class InvalidRefreshToken(DomainError):
    code = "invalid_refresh_token"
    default_detail = "The refresh token is invalid, expired or already revoked."


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str
    user: User


# --- Users ------------------------------------------------------------------------------------


def user_register(*, username: str, password: str, email: str = "") -> User:
    """Create a user after Django's password validators; a taken username or e-mail is a field error."""
    email = User.objects.normalize_email(email.strip()) if email else ""
    user = User(username=username, email=email)
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from None
    user.set_password(password)
    user.full_clean(exclude=["password"])
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:
        # Two registrations raced past full_clean(); the unique constraints decided.
        user.validate_unique()
        user.validate_constraints()
        raise
    return user


@transaction.atomic
def user_update(*, user: User, **fields) -> User:
    """Change a user's own profile fields (e-mail and names)."""
    reject_unknown_fields(fields, {"email", "first_name", "last_name"}, "user_update")
    if "email" in fields:
        fields["email"] = User.objects.normalize_email(fields["email"].strip())
    for name, value in fields.items():
        setattr(user, name, value)
    user.full_clean(exclude=["password"])
    user.save(update_fields=list(fields))
    return user


def is_taken_account_error(exc: ValidationError) -> bool:
    """Whether `user_register` refused because the username or e-mail address is already in use."""
    errors = exc.error_dict.values() if hasattr(exc, "error_dict") else [exc.error_list]
    return any(error.code == "unique" for field_errors in errors for error in field_errors)


# --- Login, lockout and logout ----------------------------------------------------------------


def user_login(*, username: str, password: str, request=None) -> TokenPair:
    """Authenticate under the lockout rule (`user_authenticate`) and issue a JWT pair."""
    user = user_authenticate(username=username, password=password, request=request)
    User.objects.filter(pk=user.pk).update(last_login=timezone.now())
    refresh = RefreshToken.for_user(user)
    return TokenPair(access=str(refresh.access_token), refresh=str(refresh), user=user)


def user_authenticate(*, username: str, password: str, request=None) -> User:
    """The user these credentials name, under the lockout rule; every login path goes through here.

    Failures count per (username, client address) and, against a much higher limit, per username
    across all addresses. A pair at LOGIN_FAILURE_LIMIT is locked for LOGIN_LOCKOUT_SECONDS: the same
    username from another address is not, so nobody can lock the owner out by failing on purpose.
    A success clears its pair's count. Raises LoginLockedOut (with Retry-After) or InvalidCredentials.
    """
    now = timezone.now()
    # Counted under the name as the column holds it: an unknown e-mail address (the legacy login's
    # fallback) may be longer than any username.
    counted_as = username[: LoginLockout._meta.get_field("username").max_length]
    address = _login_address(request)
    _refuse_if_locked_out(username=counted_as, address=address, now=now)
    user = authenticate(request, username=username, password=password)
    if user is None:
        _login_failure_record(username=counted_as, address=address, now=now)
        raise InvalidCredentials()
    # The username-wide count is not cleared: one success must not re-open the window to spraying.
    LoginLockout.objects.filter(username=counted_as, address=address).delete()
    return user


def username_for_login_email(email: str) -> str:
    """The username to log in with for an e-mail address (ignoring case); the address itself if none.

    Falling back to the address keeps the lockout and the failure path the same for unknown ones.
    """
    email = email.strip()
    return User.objects.filter(email__iexact=email).values_list("username", flat=True).first() or email


def _login_address(request) -> str:
    """The client's address ("" when there is no request, e.g. a script), sized for the column."""
    if request is None:
        return ""
    return client_address(request)[: LoginLockout._meta.get_field("address").max_length]


def _refuse_if_locked_out(*, username: str, address: str, now: datetime) -> None:
    locked_until = (
        LoginLockout.objects.filter(
            username=username, address__in=[address, LoginLockout.ALL_ADDRESSES], locked_until__gt=now
        )
        .order_by("-locked_until")
        .values_list("locked_until", flat=True)
        .first()
    )
    if locked_until is not None:
        raise LoginLockedOut(retry_after=int((locked_until - now).total_seconds()) + 1)


@transaction.atomic
def _login_failure_record(*, username: str, address: str, now: datetime) -> None:
    # Always the username-wide row first, then the pair's: concurrent failures lock rows in one order.
    _login_failure_count(
        username=username, address=LoginLockout.ALL_ADDRESSES, limit=settings.LOGIN_USERNAME_FAILURE_LIMIT, now=now
    )
    _login_failure_count(username=username, address=address, limit=settings.LOGIN_FAILURE_LIMIT, now=now)


def _login_failure_count(*, username: str, address: str, limit: int, now: datetime) -> None:
    cool_off = timedelta(seconds=settings.LOGIN_LOCKOUT_SECONDS)
    lockout, created = LoginLockout.objects.select_for_update().get_or_create(
        username=username, address=address, defaults={"failures": 1, "last_failure_at": now}
    )
    if not created:
        # Failures older than one cool-off period are forgotten.
        lockout.failures = 1 if now - lockout.last_failure_at > cool_off else lockout.failures + 1
        lockout.last_failure_at = now
    if lockout.failures >= limit:
        lockout.failures = 0
        lockout.locked_until = now + cool_off
    lockout.save()


def user_logout(*, user: User, refresh: str) -> None:
    """Blacklist the user's refresh token so it can never be used or rotated again."""
    try:
        token = RefreshToken(refresh)
    except TokenError:
        raise InvalidRefreshToken() from None
    if str(token.get(settings.SIMPLE_JWT.get("USER_ID_CLAIM", "user_id"))) != str(user.pk):
        raise InvalidRefreshToken("The refresh token belongs to another user.")
    token.blacklist()


# --- Passwords --------------------------------------------------------------------------------

WRONG_OLD_PASSWORD = "Your old password was entered incorrectly."
INVALID_RESET_TOKEN = "The reset token is invalid, expired or already used."


def user_password_change(*, user: User, old_password: str, new_password: str, request=None) -> TokenPair:
    """Change a user's password, proving the old one under the login's lockout rule (`user_authenticate`).

    A wrong old password is a field error on old_password and counts as a failed login; a locked-out
    pair gets LoginLockedOut, as the login does. Every refresh token of the user is revoked and a new
    pair is returned, so the device that changed the password stays logged in and no other does.
    """
    try:
        user_authenticate(username=user.get_username(), password=old_password, request=request)
    except InvalidCredentials:
        raise ValidationError({"old_password": [WRONG_OLD_PASSWORD]}, code="password_incorrect") from None
    _validate_new_password(new_password, user=user)
    with transaction.atomic():
        user_password_set(user=user, password=new_password)
        refresh = RefreshToken.for_user(user)
    return TokenPair(access=str(refresh.access_token), refresh=str(refresh), user=user)


@transaction.atomic
def user_password_set(*, user: User, password: str) -> None:
    """Store an already validated password and revoke every refresh token issued before it.

    Every way a password is set goes through here: the API's change and reset, the admin's reset page.
    """
    user.set_password(password)
    user.save(update_fields=["password"])
    refresh_tokens_revoke_all(user=user)


def refresh_tokens_revoke_all(*, user: User) -> int:
    """Blacklist every unexpired refresh token of the user (every device's session); returns how many.

    Access tokens already issued stay valid until they expire (JWT_ACCESS_MINUTES).
    """
    outstanding = OutstandingToken.objects.filter(
        user=user, expires_at__gt=timezone.now(), blacklistedtoken__isnull=True
    ).values_list("pk", flat=True)
    # ignore_conflicts: a token blacklisted meanwhile (a logout, a rotation) is already revoked.
    created = BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token_id=pk) for pk in outstanding], ignore_conflicts=True
    )
    return len(created)


def user_password_reset_request(*, email: str, request=None) -> bool:
    """Ask for a reset e-mail to every active user with this address; a worker looks them up and sends.

    The caller learns nothing about whether the address has an account, so neither may its answer
    nor how long it takes: the request publishes one message either way (the look-up and the SMTP
    conversation, which take a known address tens of milliseconds longer, happen in the worker).
    False when the broker could not take it (logged); the user can ask again.
    """
    from accounts.tasks import send_password_reset_emails

    site = request.build_absolute_uri("/") if request is not None else ""
    return publish_many([(send_password_reset_emails, (email, site))], what="password reset request")


def user_password_reset_emails_send(*, email: str, site: str = "") -> int:
    """E-mail a single-use, time-limited reset token to every active user with this address; how many
    e-mails went out. `site` ("https://host/") makes the e-mail link to the reset page. A mail server
    that is down is logged and otherwise ignored; the user can ask again."""
    # The users Django's own reset form would mail: active, with a usable password, the same address
    # ignoring case. Addresses are unique per user today, but rows may predate that: each gets its mail.
    users = PasswordResetForm().get_users(email)
    expires_at = timezone.now() + timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT)
    sent = 0
    for user in users:
        uid = urlsafe_base64_encode(force_bytes(user.pk))
        token = default_token_generator.make_token(user)
        context = {
            "user": user,
            "uid": uid,
            "token": token,
            "reset_page_url": _reset_page_url(site, uid=uid, token=token),
            "expires_at": expires_at,
        }
        subject = "".join(render_to_string("accounts/password_reset_subject.txt", context).splitlines())
        body = render_to_string("accounts/password_reset_email.txt", context)
        try:
            send_mail(subject, body, from_email=settings.DEFAULT_FROM_EMAIL, recipient_list=[user.email])
        except Exception:  # SMTP down, refused, timed out, or any backend's own error
            logger.warning("password reset e-mail to user %s was not sent", user.pk, exc_info=True)
        else:
            sent += 1
    return sent


def _reset_page_url(site: str, *, uid: str, token: str) -> str:
    """The reset page (accounts.password_urls) for this token, or "" when it is not routed or there is no site."""
    if not site:
        return ""
    try:
        path = reverse("password_reset_confirm", kwargs={"uidb64": uid, "token": token})
    except NoReverseMatch:
        return ""
    return urljoin(site, path)


@transaction.atomic
def user_password_reset_confirm(*, uid: str, token: str, new_password: str) -> User:
    """Set the password of the user a reset e-mail was sent to; the token works once, until it expires.

    A bad, used or expired token is the same field error on token whether or not the user exists,
    and is checked before the password validators (which would otherwise talk about the user).
    """
    # Locked, so two requests with one token are serialised: the second sees the new password hash,
    # which the token is bound to, and is refused.
    user = _user_for_reset(uid)
    if user is None or not default_token_generator.check_token(user, token):
        raise ValidationError({"token": [INVALID_RESET_TOKEN]}, code="invalid")
    _validate_new_password(new_password, user=user)
    user_password_set(user=user, password=new_password)
    return user


def _user_for_reset(uid: str) -> User | None:
    try:
        pk = int(urlsafe_base64_decode(uid).decode())
    except (TypeError, ValueError, OverflowError):  # not base64, not UTF-8, not a number
        return None
    if not 0 < pk < 2**63:  # outside the id column's range
        return None
    return User.objects.select_for_update().filter(pk=pk, is_active=True).first()


def _validate_new_password(password: str, *, user: User) -> None:
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        raise ValidationError({"new_password": exc.messages}) from None


# --- API tokens -------------------------------------------------------------------------------


def _hash_secret(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def api_tokens_visible_to(user: User) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user, revoked_at__isnull=True)


@transaction.atomic
def api_token_create(*, user: User, name: str) -> tuple[ApiToken, str]:
    """Create a token; returns it with its plaintext, which is never stored nor shown again."""
    prefix = secrets.token_hex(6)
    plaintext = f"{API_TOKEN_MARKER}_{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken(user=user, name=name.strip(), prefix=prefix, token_hash=_hash_secret(plaintext))
    token.full_clean()
    token.save()
    return token, plaintext


def api_token_revoke(*, token: ApiToken) -> None:
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


def api_token_authenticate(plaintext: str) -> ApiToken | None:
    """The active token matching `plaintext` (compared in constant time), with its user, or None."""
    parts = plaintext.split("_", 2)
    if len(parts) != 3 or parts[0] != API_TOKEN_MARKER:
        return None
    now = timezone.now()
    token = _active_token_with_user(parts[1], stale_before=now - API_TOKEN_LAST_USED_RESOLUTION)
    if token is None or not hmac.compare_digest(token.token_hash, _hash_secret(plaintext)):
        return None
    if token.last_use_is_stale:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


@cache
def _active_token_sql() -> str:
    token, user = ApiToken._meta.db_table, User._meta.db_table
    # The user's columns by name, not u.*: a statement prepared on a long-lived connection must keep
    # its result's shape when a migration adds a column.
    user_columns = ", ".join(f"u.{connection.ops.quote_name(field.column)}" for field in User._meta.concrete_fields)
    return (
        f"SELECT {user_columns}, t.id AS api_token_id, t.name AS api_token_name, t.token_hash AS api_token_hash,"
        f" (t.last_used_at IS NULL OR t.last_used_at <= %s) AS api_token_stale"
        f" FROM {token} t INNER JOIN {user} u ON u.id = t.user_id"
        f" WHERE t.prefix = %s AND t.revoked_at IS NULL AND u.is_active LIMIT 1"
    )


def _active_token_with_user(prefix: str, *, stale_before: datetime) -> ApiToken | None:
    """The active token with this (unique) prefix and its active user, in one statement.

    Hand-written because it runs on every machine request: building the equivalent ORM query cost
    more CPU than running it. The token's other columns are deferred (loaded if ever read), and
    `last_use_is_stale` says whether its last-use stamp is due.
    """
    stale_param = connection.ops.adapt_datetimefield_value(stale_before)
    user = next(iter(User.objects.raw(_active_token_sql(), [stale_param, prefix])), None)
    if user is None:
        return None
    token_id, name, token_hash, stale = (
        user.__dict__.pop(column) for column in ("api_token_id", "api_token_name", "api_token_hash", "api_token_stale")
    )
    token = ApiToken.from_db(
        ApiToken.objects.db,
        ["id", "user_id", "name", "prefix", "token_hash"],
        [token_id, user.pk, name, prefix, token_hash],
    )
    token.user = user
    token.last_use_is_stale = bool(stale)
    return token


def is_api_token(credential: str) -> bool:
    return credential.startswith(f"{API_TOKEN_MARKER}_")


def login_lockouts_prune(*, now: datetime | None = None, batch_size: int = 10_000) -> int:
    """Forget failure counts and locks that no longer matter (older than one cool-off period).

    Failed logins for usernames that do not exist create rows too; without this they would pile up.
    """
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.LOGIN_LOCKOUT_SECONDS)
    ids = list(
        LoginLockout.objects.filter(last_failure_at__lt=stale)
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
        .values_list("pk", flat=True)[:batch_size]
    )
    return LoginLockout.objects.filter(pk__in=ids).delete()[0] if ids else 0
