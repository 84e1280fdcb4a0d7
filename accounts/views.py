from django.contrib.auth import update_session_auth_hash
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, mixins, status, viewsets
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.serializers import TokenRefreshSerializer
from rest_framework_simplejwt.views import TokenRefreshView as SimpleJWTTokenRefreshView

from accounts import services
from accounts.models import ApiToken
from accounts.serializers import (
    ApiTokenCreatedSerializer,
    ApiTokenSerializer,
    DetailSerializer,
    LoginSerializer,
    LogoutSerializer,
    PasswordChangeSerializer,
    PasswordResetConfirmSerializer,
    PasswordResetRequestSerializer,
    RegisterSerializer,
    TokenPairSerializer,
    UserSerializer,
)
from eventsys.api.idempotency import IDEMPOTENCY_PARAMETER, idempotent
from eventsys.api.schema import FIELD_ERRORS, error_ref, error_response


class RegisterView(APIView):
    """Create an account. Django's password validators apply; throttled per client."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_scope = "auth"

    @extend_schema(request=RegisterSerializer, responses={201: UserSerializer})
    def post(self, request):
        serializer = RegisterSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.user_register(**serializer.validated_data)
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)


class TokenObtainView(APIView):
    """Log in: a short-lived access token and a rotating refresh token.

    Repeated failures for one username from one client address lock that pair out for a cool-off
    period (429 `locked_out` with Retry-After); many more from all addresses lock the username.
    """

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_scope = "auth"

    @extend_schema(
        request=LoginSerializer,
        responses={200: TokenPairSerializer, 401: error_response("Wrong username or password.")},
    )
    def post(self, request):
        serializer = LoginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        pair = services.user_login(request=request, **serializer.validated_data)
        return Response({"access": pair.access, "refresh": pair.refresh})


class TokenRefreshView(SimpleJWTTokenRefreshView):
    """Trade a refresh token for a new pair; the old refresh token is blacklisted."""

    @extend_schema(
        responses={
            200: TokenRefreshSerializer,
            401: error_response("The refresh token is invalid, expired or already used."),
        }
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)


class LogoutView(APIView):
    """Revoke a refresh token of the caller's."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=LogoutSerializer, responses={204: None})
    def post(self, request):
        serializer = LogoutSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.user_logout(user=request.user, refresh=serializer.validated_data["refresh"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordChangeView(APIView):
    """Change the caller's password. The old one is checked like a login: wrong ones count toward the
    lockout, and a locked-out caller gets the login's 429 `locked_out`. Every refresh token of the
    caller is revoked (other devices are logged out); the answer is a new pair for this one."""

    permission_classes = [IsAuthenticated]
    throttle_scope = "auth"

    @extend_schema(
        summary="Change your password",
        request=PasswordChangeSerializer,
        responses={
            200: TokenPairSerializer,
            400: OpenApiResponse(
                error_ref(FIELD_ERRORS),
                description="A wrong old_password, or a new_password the password validators refuse (per field).",
            ),
        },
    )
    def post(self, request):
        serializer = PasswordChangeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        pair = services.user_password_change(user=request.user, request=request, **serializer.validated_data)
        if isinstance(request.successful_authenticator, SessionAuthentication):
            update_session_auth_hash(request, request.user)  # keep this browser's session; others end
        return Response({"access": pair.access, "refresh": pair.refresh})


class PasswordResetRequestView(APIView):
    """Ask for a password reset e-mail. The answer is the same whether or not the address has an
    account; throttled per client."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_scope = "password_reset"

    @extend_schema(
        summary="Request a password reset e-mail",
        request=PasswordResetRequestSerializer,
        responses={
            202: OpenApiResponse(
                DetailSerializer,
                description="Accepted; an e-mail with a uid and a token goes to every account with this address.",
            )
        },
    )
    def post(self, request):
        serializer = PasswordResetRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.user_password_reset_request(email=serializer.validated_data["email"], request=request)
        return Response(
            {"detail": "If an account has this address, an e-mail with a reset token is on its way."},
            status=status.HTTP_202_ACCEPTED,
        )


class PasswordResetConfirmView(APIView):
    """Set a new password with the uid and token of a reset e-mail. The token works once and expires
    (PASSWORD_RESET_TIMEOUT); every refresh token of the user is revoked."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_scope = "auth"

    @extend_schema(
        summary="Set a new password with a reset token",
        request=PasswordResetConfirmSerializer,
        responses={
            200: DetailSerializer,
            400: OpenApiResponse(
                error_ref(FIELD_ERRORS),
                description="An invalid, used or expired token (on token), or a refused new_password (per field).",
            ),
        },
    )
    def post(self, request):
        serializer = PasswordResetConfirmSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.user_password_reset_confirm(**serializer.validated_data)
        return Response({"detail": "Your password has been set; log in with it."})


class MeView(generics.RetrieveUpdateAPIView):
    """Your own account: see it, or change your e-mail address and names."""

    serializer_class = UserSerializer
    http_method_names = ["get", "patch", "head", "options"]

    def get_object(self):
        return self.request.user

    def perform_update(self, serializer):
        serializer.instance = services.user_update(user=self.request.user, **serializer.validated_data)


class ApiTokenViewSet(
    mixins.ListModelMixin, mixins.CreateModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """API tokens for machines. The plaintext is in the creation response only; DELETE revokes."""

    serializer_class = ApiTokenSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return ApiToken.objects.none()
        return services.api_tokens_visible_to(self.request.user).order_by("-created_at", "-id")

    @extend_schema(parameters=[IDEMPOTENCY_PARAMETER], responses={201: ApiTokenCreatedSerializer})
    @idempotent
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token, plaintext = services.api_token_create(user=request.user, name=serializer.validated_data["name"])
        token.token = plaintext
        return Response(ApiTokenCreatedSerializer(token).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        services.api_token_revoke(token=instance)
