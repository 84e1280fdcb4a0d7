from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower


class User(AbstractUser):
    """A person using eventsys. Usernames are unique; e-mail addresses too, ignoring case, when given."""

    email = models.EmailField("email address", blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                condition=~models.Q(email=""),
                name="accounts_user_email_unique_ci",
                violation_error_message="A user with this e-mail address already exists.",
                violation_error_code="unique",
            ),
        ]


class ApiToken(models.Model):
    """A machine credential. Only a SHA-256 hash of the secret is stored; `prefix` finds the row.

    The plaintext (`evs_<prefix>_<secret>`) is shown once, when the token is created. Tokens are
    random 256-bit values, so a fast hash is safe here (unlike passwords, they cannot be guessed).
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)  # the authentication lookup uses this index
    token_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API token"
        verbose_name_plural = "API tokens"
        ordering = ["-created_at", "-id"]
        indexes = [
            # the owner's token list: api_tokens_visible_to(user)
            models.Index(fields=["user", "-created_at"], name="accounts_token_user_created"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class LoginLockout(models.Model):
    """Failed logins for one username from one client address, or from all of them (`ALL_ADDRESSES`).

    A pair's row locks that pair only, so failures from an attacker's address never lock the owner
    out from theirs; the username-wide row counts every address against a much higher limit
    (password spraying). `locked_until` is set once a row reaches its limit.
    """

    ALL_ADDRESSES = "*"  # never a client address (eventsys.client_address gives an IP address or "")

    username = models.CharField(max_length=150)
    address = models.CharField(max_length=64, blank=True)
    failures = models.PositiveIntegerField(default=0)
    last_failure_at = models.DateTimeField()
    locked_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # Its index serves the look-up on every login: (username, address in [the client's, "*"]).
            models.UniqueConstraint(fields=["username", "address"], name="accounts_lockout_once_per_address"),
        ]

    def __str__(self) -> str:
        return f"{self.username} from {self.address or 'an unknown address'}"
