"""`POST /auth/register` and `POST /auth/login` of two original services, over accounts.services.

The event-trigger service sent `{username, password}`; the crypto-alert service (Kryptolert) sent
`{email, password}`. Both used the same two paths, so the body's keys tell which client is calling,
and each is answered in its own original's words. A Kryptolert account's username is its address.
"""

from django.core.exceptions import ValidationError
from django.urls import path
from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from accounts import services
from accounts.services import InvalidCredentials
from eventsys.api.fields import StrictCharField, StrictEmailField, StrictIntegerField
from eventsys.api.legacy import LegacyView


class UsernameCredentialsSerializer(serializers.Serializer):
    username = StrictCharField(max_length=150)
    password = StrictCharField(trim_whitespace=False)


class EmailCredentialsSerializer(serializers.Serializer):
    email = StrictEmailField()
    password = StrictCharField(trim_whitespace=False)


CREDENTIALS = PolymorphicProxySerializer(
    component_name="LegacyCredentials",
    serializers=[UsernameCredentialsSerializer, EmailCredentialsSerializer],
    resource_type_field_name=None,
)
MESSAGE = inline_serializer("LegacyMessage", {"message": StrictCharField()})


def _is_email_client(data) -> bool:
    return isinstance(data, dict) and "email" in data and "username" not in data


class LegacyAuthView(LegacyView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_scope = "auth"

    def credentials(self, request) -> tuple[bool, dict]:
        """(is the Kryptolert client, its validated credentials)."""
        email_client = _is_email_client(request.data)
        serializer_class = EmailCredentialsSerializer if email_client else UsernameCredentialsSerializer
        serializer = serializer_class(data=request.data if isinstance(request.data, dict) else {})
        serializer.is_valid(raise_exception=True)
        return email_client, serializer.validated_data


class LegacyRegisterView(LegacyAuthView):
    """Create an account (password policy as /api/v1/auth/register/); a taken name is a 409."""

    @extend_schema(
        operation_id="legacy_auth_register",
        request=CREDENTIALS,
        responses={201: MESSAGE, 400: MESSAGE, 409: MESSAGE},
    )
    def post(self, request):
        email_client, credentials = self.credentials(request)
        if email_client:
            username, email = credentials["email"], credentials["email"]
        else:
            username, email = credentials["username"], ""
        try:
            services.user_register(username=username, email=email, password=credentials["password"])
        except ValidationError as exc:
            if not services.is_taken_account_error(exc):
                raise
            message = "User Already Exists" if email_client else "Username already exists"
            return Response({"message": message}, status=status.HTTP_409_CONFLICT)
        message = "Successfully Registered" if email_client else "User registered successfully"
        return Response({"message": message}, status=status.HTTP_201_CREATED)


class LegacyLoginView(LegacyAuthView):
    """Log in; the token is a /api/v1/ access token (JWT_ACCESS_MINUTES), usable on every legacy route."""

    @extend_schema(
        operation_id="legacy_auth_login",
        request=CREDENTIALS,
        responses={
            200: inline_serializer(
                "LegacyUsernameLogin",
                {
                    "message": StrictCharField(),
                    "token": StrictCharField(),
                    "user_id": StrictIntegerField(),
                },
            ),
            201: OpenApiResponse(
                inline_serializer("LegacyEmailLogin", {"message": StrictCharField(), "token": StrictCharField()}),
                description="The e-mail client's answer (Kryptolert answered 201).",
            ),
            401: MESSAGE,
        },
    )
    def post(self, request):
        email_client, credentials = self.credentials(request)
        email = credentials.get("email")
        username = services.username_for_login_email(email) if email_client else credentials["username"]
        try:
            pair = services.user_login(request=request, username=username, password=credentials["password"])
        except InvalidCredentials:
            message = "Invalid Credentials" if email_client else "Invalid username or password"
            return Response({"message": message}, status=status.HTTP_401_UNAUTHORIZED)
        if email_client:
            return Response({"message": "Successful Sign-In", "token": pair.access}, status=status.HTTP_201_CREATED)
        return Response({"message": "Login successful", "token": pair.access, "user_id": pair.user.pk})


urlpatterns = [
    path("auth/register", LegacyRegisterView.as_view(), name="legacy-auth-register"),
    path("auth/login", LegacyLoginView.as_view(), name="legacy-auth-login"),
]
